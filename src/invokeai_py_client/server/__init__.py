"""A local InvokeAI server for tests and demos: provisioned, started and stopped by us.

    >>> from invokeai_py_client.server import LocalServer
    >>> server = LocalServer()      # $INVOKEAI_PY_HOME or ~/.cache/invokeai-py-client
    >>> url = server.up()           # doctest: +SKIP  (installs InvokeAI 6.14.2 on first use)
    >>> server.status().models      # doctest: +SKIP
    >>> server.down()               # doctest: +SKIP

The same operations are on the command line: `invokeai-py server provision|up|down|status|url`.
"""

from ._common import (
    INVOKEAI_VERSION,
    LocalServerError,
    NullProgress,
    Progress,
    ProvisionError,
    ServerPaths,
    ServerState,
    default_home,
)
from .local import LocalServer, ServerStatus
from .tiny_models import NAMES as TINY_MODEL_NAMES

__all__ = [
    "INVOKEAI_VERSION",
    "TINY_MODEL_NAMES",
    "LocalServer",
    "LocalServerError",
    "NullProgress",
    "Progress",
    "ProvisionError",
    "ServerPaths",
    "ServerState",
    "ServerStatus",
    "default_home",
]
