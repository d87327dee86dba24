"""1.1.1's `DnnModelRepository`: ours (`client.dnn_model_repo`), under its name."""

from ..model_manager import FoundModel
from ..model_manager import ModelRecord as DnnModel
from ..model_manager import ModelRepository as DnnModelRepository
from .dnn_model_exceptions import APIRequestError, ModelInstallStartError
from .dnn_model_models import (
    HFLoginStatus,
    InstallJobStatus,
    ModelInstallConfig,
    ModelInstJobInfo,
    ModelManagerStats,
)
from .model_inst_job_handle import ModelInstJobHandle

__all__ = [
    "APIRequestError",
    "DnnModel",
    "DnnModelRepository",
    "FoundModel",
    "HFLoginStatus",
    "InstallJobStatus",
    "ModelInstJobHandle",
    "ModelInstJobInfo",
    "ModelInstallConfig",
    "ModelInstallStartError",
    "ModelManagerStats",
]
