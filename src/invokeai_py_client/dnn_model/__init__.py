"""invokeai-py-client 1.1.1's model names, at its import path (a compatibility surface).

Ours are in `invokeai_py_client.model_manager`; `client.dnn_model_repo` is the same
repository either way. See docs/migrating-from-1.1.md for what differs.
"""

from .dnn_model_exceptions import (
    APIRequestError,
    InvokeAIClientError,
    ModelInstallJobFailed,
    ModelInstallStartError,
    ModelInstallTimeout,
    ModelManagerError,
)
from .dnn_model_models import (
    FoundModel,
    HFLoginStatus,
    InstallJobStatus,
    ModelInstallConfig,
    ModelInstJobInfo,
    ModelManagerStats,
)
from .dnn_model_repo import DnnModelRepository
from .dnn_model_types import BaseDnnModelType, DnnModel, DnnModelFormat, DnnModelType
from .model_inst_job_handle import ModelInstJobHandle

__all__ = [
    "APIRequestError",
    "BaseDnnModelType",
    "DnnModel",
    "DnnModelFormat",
    "DnnModelRepository",
    "DnnModelType",
    "FoundModel",
    "HFLoginStatus",
    "InstallJobStatus",
    "InvokeAIClientError",
    "ModelInstJobHandle",
    "ModelInstJobInfo",
    "ModelInstallConfig",
    "ModelInstallJobFailed",
    "ModelInstallStartError",
    "ModelInstallTimeout",
    "ModelManagerError",
    "ModelManagerStats",
]
