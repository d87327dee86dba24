"""A local InvokeAI server for tests and demos: provisioned, started and stopped by us.

    >>> from invokeai_py_client.server import LocalServer
    >>> server = LocalServer()      # $INVOKEAI_PY_HOME or ~/.cache/invokeai-py-client
    >>> url = server.up()           # doctest: +SKIP  (installs InvokeAI 6.14.2 on first use)
    >>> server.status().models      # doctest: +SKIP
    >>> server.down()               # doctest: +SKIP
    >>> LocalServer(instance="v515", invokeai_version="5.15.0").up()  # doctest: +SKIP

Other releases (`releases.RELEASES`: 6.14.2, 6.0.2, 5.15.0) install into a venv of their
own beside the default one; an instance remembers the release it was brought up with.
The same operations are on the command line: `invokeai-py server provision|up|down|status|url`,
with `--instance NAME --invokeai-version X`.
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
