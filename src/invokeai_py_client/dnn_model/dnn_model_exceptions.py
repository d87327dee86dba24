"""1.1.1's model-manager exceptions, as the errors ours raises in those cases.

`APIRequestError` is every error status (`APIStatusError`); a refused install start
and a failed install are both `ModelInstallError` (1.1.1 told them apart; an
``except ModelInstallStartError`` clause placed first now also takes failures).
"""

from .._exceptions import APIStatusError as APIRequestError
from .._exceptions import InvokeAIError as InvokeAIClientError
from .._exceptions import InvokeAIError as ModelManagerError
from ..model_manager import ModelInstallError as ModelInstallJobFailed
from ..model_manager import ModelInstallError as ModelInstallStartError
from ..model_manager import ModelInstallTimeoutError as ModelInstallTimeout

__all__ = [
    "APIRequestError",
    "InvokeAIClientError",
    "ModelInstallJobFailed",
    "ModelInstallStartError",
    "ModelInstallTimeout",
    "ModelManagerError",
]
