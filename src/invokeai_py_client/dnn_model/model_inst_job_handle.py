"""1.1.1's `ModelInstJobHandle`: ours (`ModelInstallJob`), under its name."""

from ..model_manager import ModelInstallJob as ModelInstJobHandle
from .dnn_model_exceptions import APIRequestError, ModelInstallJobFailed, ModelInstallTimeout
from .dnn_model_models import InstallJobStatus, ModelInstJobInfo

__all__ = [
    "APIRequestError",
    "InstallJobStatus",
    "ModelInstJobHandle",
    "ModelInstJobInfo",
    "ModelInstallJobFailed",
    "ModelInstallTimeout",
]
