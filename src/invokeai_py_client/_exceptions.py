"""The exception tree. Every error this library raises derives from `InvokeAIError`.

    InvokeAIError
    ├── APIConnectionError            the server could not be reached
    │   └── APITimeoutError           a request took longer than its timeout
    ├── APIResponseError              the server answered something that is not the API
    │   └── APIStatusError            an HTTP error status (carries the response)
    │       ├── BadRequestError                 400
    │       ├── AuthenticationError             401
    │       ├── PermissionDeniedError           403
    │       ├── NotFoundError                   404
    │       ├── ConflictError                   409
    │       ├── UnprocessableEntityError        422 (keeps the server's `detail`)
    │       ├── RateLimitError                  429
    │       └── InternalServerError             5xx
    ├── ValidationError               rejected on the client before anything was sent
    ├── UnsupportedByServerError      the server's version lacks the route an operation needs
    ├── AmbiguousSubmissionError      enqueue outcome unknown and could not be resolved
    └── JobError                      a queue item did not complete (carries the item)
        ├── JobFailedError
        ├── JobCanceledError
        ├── JobLostError
        └── JobTimeoutError
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .queue_models import QueueItem

__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AmbiguousSubmissionError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InputNotFoundError",
    "InternalServerError",
    "InvokeAIError",
    "JobCanceledError",
    "JobError",
    "JobFailedError",
    "JobLostError",
    "JobTimeoutError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "UnsupportedByServerError",
    "ValidationError",
]


class InvokeAIError(Exception):
    """Base class of every error raised by invokeai_py_client."""


class APIConnectionError(InvokeAIError):
    """The server could not be reached (refused, reset, DNS, TLS)."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """A request did not complete within its timeout."""


class APIResponseError(InvokeAIError):
    """The server answered, but not with what the API promises (e.g. HTML for JSON)."""

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(message)
        self.response = response
        self.request = response.request

    @property
    def status_code(self) -> int:
        return self.response.status_code


class APIStatusError(APIResponseError):
    """The server answered with an HTTP error status."""

    def __init__(self, message: str, *, response: httpx.Response, body: Any) -> None:
        super().__init__(message, response=response)
        self.body = body

    @property
    def detail(self) -> Any:
        """The server's `detail` member when the body is FastAPI's error shape."""
        if isinstance(self.body, dict):
            return self.body.get("detail")
        return None


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401: no token, a wrong token, or an expired one."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the user may not do this (e.g. model changes need an admin)."""


class NotFoundError(APIStatusError):
    """HTTP 404."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the server rejected the body; `detail` lists each problem with its `loc`."""


class RateLimitError(APIStatusError):
    """HTTP 429."""


class InternalServerError(APIStatusError):
    """HTTP 5xx."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_ERRORS.get(status_code, APIStatusError)


class ValidationError(InvokeAIError, ValueError):
    """Input rejected on the client before anything was sent to the server.

    `problems` lists every problem found, so a caller sees them all at once.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems: list[str] = list(problems) or [message]
        if problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class InputNotFoundError(ValidationError, KeyError, IndexError):
    """A workflow has no input with this index, label or path (the message lists its inputs).

    Also a `KeyError` and an `IndexError`, as looking up a label or an index is.
    """

    __str__ = Exception.__str__  # not KeyError's quoted repr


class UnsupportedByServerError(InvokeAIError):
    """The server (an older InvokeAI) lacks what the operation needs; nothing was sent.

    `server_version` is the version it reports, `route` the missing operation
    (e.g. ``GET /api/v1/images/names``), `feature` what needed it.
    """

    def __init__(self, message: str, *, server_version: str | None, route: str, feature: str) -> None:
        super().__init__(message)
        self.server_version = server_version
        self.route = route
        self.feature = feature


class AmbiguousSubmissionError(InvokeAIError):
    """An enqueue request failed in a way that leaves its outcome unknown.

    The submission's `destination` tag was looked up and the result was still
    inconclusive; nothing was enqueued a second time.
    """

    def __init__(self, message: str, *, destination: str) -> None:
        super().__init__(message)
        self.destination = destination


class JobError(InvokeAIError):
    """A queue item did not complete. `item` is the queue item as the server reported it."""

    def __init__(self, message: str, item: QueueItem | None) -> None:
        super().__init__(message)
        self.item = item

    @property
    def item_id(self) -> int | None:
        return self.item.item_id if self.item is not None else None


class JobFailedError(JobError, RuntimeError):
    """The server ran the item and it failed; carries the server's error fields.

    Also a `RuntimeError`, as invokeai-py-client 1.1.1 raised for a failed job.
    """

    @property
    def error_type(self) -> str | None:
        return self.item.error_type if self.item is not None else None

    @property
    def error_message(self) -> str | None:
        return self.item.error_message if self.item is not None else None

    @property
    def error_traceback(self) -> str | None:
        return self.item.error_traceback if self.item is not None else None


class JobCanceledError(JobError, RuntimeError):
    """The item was canceled (by this client, another client or the GUI). Also a `RuntimeError`."""


class JobLostError(JobError):
    """The item is no longer on the queue (deleted or cleared) and will never finish."""


class JobTimeoutError(JobError, TimeoutError):
    """Waiting for the item took longer than the timeout. The item may still run.

    Also a builtin `TimeoutError`, as 1.1.1 raised (not `OSError`'s errno semantics).
    """

    __str__ = Exception.__str__
