"""Drive InvokeAI from Python: exported workflows, jobs, events, boards, models, pipelines.

    >>> from invokeai_py_client import InvokeAIClient
    >>> client = InvokeAIClient.from_url("http://127.0.0.1:9090")   # doctest: +SKIP
"""

from . import _exceptions
from ._exceptions import *  # noqa: F403 - the whole exception tree is public (its __all__)
from .boards import AsyncBoardHandle, BoardHandle
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
from .queue_models import BatchStatus, EnqueueBatchResult, QueueItem

__version__ = "0.1.0"

__all__ = [
    "AsyncBoardHandle",
    "AsyncInvokeAIClient",
    "AsyncJob",
    "AsyncJobBatch",
    "BatchStatus",
    "BoardHandle",
    "EnqueueBatchResult",
    "Event",
    "ImageDTO",
    "InvocationCompleteEvent",
    "InvocationErrorEvent",
    "InvocationProgressEvent",
    "InvocationStartedEvent",
    "InvokeAIClient",
    "Job",
    "JobBatch",
    "ModelInstallJob",
    "ModelRecord",
    "QueueItem",
    "QueueItemStatusChangedEvent",
    "__version__",
]
__all__ += _exceptions.__all__
