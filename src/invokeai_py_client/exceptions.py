"""invokeai-py-client 1.1.1's exception names, at its import path (a compatibility surface).

1.1.1 declared these and raised none of them. Here each is the error ours raises in
that situation, so ``except`` clauses written against these names catch real errors.
`ConnectionError` and `TimeoutError` are 1.1.1's names for our connection and
timeout errors (they are not the builtins).
"""

from ._exceptions import APIConnectionError as ConnectionError  # noqa: A004 - 1.1.1's name
from ._exceptions import APIStatusError as APIError
from ._exceptions import APITimeoutError as TimeoutError  # noqa: A004 - 1.1.1's name
from ._exceptions import AuthenticationError, InvokeAIError, JobError, ValidationError
from ._exceptions import NotFoundError as ResourceNotFoundError
from ._exceptions import ValidationError as ConfigurationError
from ._exceptions import ValidationError as FileError
from ._exceptions import ValidationError as WorkflowError

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectionError",
    "FileError",
    "InvokeAIError",
    "JobError",
    "ResourceNotFoundError",
    "TimeoutError",
    "ValidationError",
    "WorkflowError",
]
