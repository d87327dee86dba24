"""1.1.1's model-manager records: ours where there is one, and two small enums."""

from __future__ import annotations

import enum
from typing import Any

from .._models import ServerModel
from ..model_manager import BaseModelType as BaseDnnModelType
from ..model_manager import CacheStats as ModelManagerStats
from ..model_manager import FoundModel
from ..model_manager import ModelInstallStatus as ModelInstJobInfo
from ..model_manager import ModelType as DnnModelType

__all__ = [
    "BaseDnnModelType",
    "DnnModelType",
    "FoundModel",
    "HFLoginStatus",
    "InstallJobStatus",
    "ModelInstJobInfo",
    "ModelInstallConfig",
    "ModelManagerStats",
]


class InstallJobStatus(enum.StrEnum):
    """An install job's status (the server's strings; `ModelInstJobInfo.status` compares equal)."""

    WAITING = "waiting"
    DOWNLOADING = "downloading"
    DOWNLOADS_DONE = "downloads_done"
    RUNNING = "running"
    COMPLETED = "completed"
    ERROR = "error"
    CANCELLED = "cancelled"


class HFLoginStatus(enum.StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"


class ModelInstallConfig(ServerModel):
    """Overrides for an install (`install_model(source, config=...)`); unknown keys are sent as given."""

    name: str | None = None
    description: str | None = None
    base: str | None = None
    type: str | None = None
    variant: str | None = None
    prediction_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(mode="json").items() if v is not None}
