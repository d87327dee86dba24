"""Drive InvokeAI from Python: exported workflows, jobs, events, boards, models, pipelines.

    >>> from invokeai_py_client import InvokeAIClient
    >>> client = InvokeAIClient.from_url("http://127.0.0.1:9090")   # doctest: +SKIP
"""

from . import _exceptions
from ._exceptions import *  # noqa: F403 - the whole exception tree is public (its __all__)
from .boards import AsyncBoardHandle, Board, BoardHandle, BoardRepository
from .client import AsyncInvokeAIClient, InvokeAIClient
from .events import (
    Event,
    InvocationCompleteEvent,
    InvocationErrorEvent,
    InvocationProgressEvent,
    InvocationStartedEvent,
    QueueItemStatusChangedEvent,
)
from .images import ImageDTO
from .jobs import AsyncJob, AsyncJobBatch, Job, JobBatch
from .model_manager import ModelInstallJob, ModelRecord
from .models import (
    BaseModelEnum,
    ImageCategory,
    IvkDnnModel,
    IvkImage,
    IvkJob,
    JobStatus,
    SessionEvent,
)
from .queue_models import BatchStatus, EnqueueBatchResult, QueueItem
from .workflow import WorkflowDefinition, WorkflowHandle, WorkflowRepository

__version__ = "2.0.0.dev0"

__all__ = [
    "AsyncBoardHandle",
    "AsyncInvokeAIClient",
    "AsyncJob",
    "AsyncJobBatch",
    "BaseModelEnum",
    "BatchStatus",
    "Board",
    "BoardHandle",
    "BoardRepository",
    "EnqueueBatchResult",
    "Event",
    "ImageCategory",
    "ImageDTO",
    "InvocationCompleteEvent",
    "InvocationErrorEvent",
    "InvocationProgressEvent",
    "InvocationStartedEvent",
    "InvokeAIClient",
    "IvkDnnModel",
    "IvkImage",
    "IvkJob",
    "Job",
    "JobBatch",
    "JobStatus",
    "ModelInstallJob",
    "ModelRecord",
    "QueueItem",
    "QueueItemStatusChangedEvent",
    "SessionEvent",
    "WorkflowDefinition",
    "WorkflowHandle",
    "WorkflowRepository",
    "__version__",
]
__all__ += _exceptions.__all__
