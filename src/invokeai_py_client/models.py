"""invokeai-py-client 1.1.1's data types, at its import path (a compatibility surface).

`IvkImage` is our image record and `IvkDnnModel` our model record; the enums are the
server's strings. `IvkJob` and `SessionEvent` are 1.1.1's plain records, kept for
scripts that build or annotate with them (ours follow jobs with `Job` and events).
Our model manager (1.1.1's `dnn_model`) is `invokeai_py_client.model_manager`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import Field

from ._models import ServerModel
from .images import ImageDTO as IvkImage
from .model_manager import ModelRecord as IvkDnnModel

__all__ = ["BaseModelEnum", "ImageCategory", "IvkDnnModel", "IvkImage", "IvkJob", "JobStatus", "SessionEvent"]


class JobStatus(enum.StrEnum):
    """1.1.1's job states. The server's queue items say ``in_progress`` and ``canceled``."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ImageCategory(enum.StrEnum):
    """The server's image categories."""

    USER = "user"
    GENERAL = "general"
    CONTROL = "control"
    MASK = "mask"
    OTHER = "other"


class BaseModelEnum(enum.StrEnum):
    """1.1.1's short list of model bases (ours: `model_manager.BaseModelType`, open to new ones)."""

    SD1 = "sd-1"
    SD2 = "sd-2"
    SDXL = "sdxl"
    SDXL_REFINER = "sdxl-refiner"
    FLUX = "flux"
    FLUX_SCHNELL = "flux-schnell"


class IvkJob(ServerModel):
    """1.1.1's job record."""

    id: str
    workflow_id: str | None = None
    status: JobStatus = JobStatus.PENDING
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)

    def is_complete(self) -> bool:
        return self.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)

    def is_successful(self) -> bool:
        return self.status == JobStatus.COMPLETED


class SessionEvent(ServerModel):
    """1.1.1's event record (ours: `invokeai_py_client.events`)."""

    event_type: str
    session_id: str | None = None
    timestamp: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
