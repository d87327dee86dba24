"""Drive InvokeAI from Python: exported workflows, jobs, events, boards, models, pipelines.

    >>> from invokeai_py_client import InvokeAIClient
    >>> client = InvokeAIClient.from_url("http://127.0.0.1:9090")   # doctest: +SKIP
"""

from ._exceptions import (
    AmbiguousSubmissionError,
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvokeAIError,
    JobCanceledError,
    JobError,
    JobFailedError,
    JobLostError,
    JobTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    ValidationError,
)
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
from .models import ModelInstallJob, ModelRecord
from .queue_models import BatchStatus, EnqueueBatchResult, QueueItem

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AmbiguousSubmissionError",
    "AsyncBoardHandle",
    "AsyncInvokeAIClient",
    "AsyncJob",
    "AsyncJobBatch",
    "AuthenticationError",
    "BadRequestError",
    "BatchStatus",
    "BoardHandle",
    "ConflictError",
    "EnqueueBatchResult",
    "Event",
    "ImageDTO",
    "InternalServerError",
    "InvocationCompleteEvent",
    "InvocationErrorEvent",
    "InvocationProgressEvent",
    "InvocationStartedEvent",
    "InvokeAIClient",
    "InvokeAIError",
    "Job",
    "JobBatch",
    "JobCanceledError",
    "JobError",
    "JobFailedError",
    "JobLostError",
    "JobTimeoutError",
    "ModelInstallJob",
    "ModelRecord",
    "NotFoundError",
    "PermissionDeniedError",
    "QueueItem",
    "QueueItemStatusChangedEvent",
    "RateLimitError",
    "UnprocessableEntityError",
    "ValidationError",
    "__version__",
]
