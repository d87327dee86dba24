"""`InvokeAIClient` and its async twin `AsyncInvokeAIClient`.

    >>> from invokeai_py_client import InvokeAIClient
    >>> client = InvokeAIClient.from_url("http://127.0.0.1:9090")   # doctest: +SKIP
    >>> client.server_version()                                      # doctest: +SKIP
    '6.14.2'
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ._exceptions import InvokeAIError
from ._flow import Call, Flow, run_async, run_sync, single
from ._socket import AsyncEventHub, SyncEventHub
from ._transport import (
    DEFAULT_TIMEOUT,
    AsyncTransport,
    ClientOptions,
    Credentials,
    SyncTransport,
    normalize_base_url,
)
from .queue import AsyncQueueRepository, QueueRepository

if TYPE_CHECKING:
    from .boards import AsyncBoardRepository, BoardRepository
    from .images import AsyncImageRepository, ImageRepository
    from .models import AsyncModelRepository, ModelRepository
    from .workflow.repo import AsyncWorkflowRepository, WorkflowRepository
    from .workflow.schema import InvocationCatalog

__all__ = ["DEFAULT_URL", "AsyncInvokeAIClient", "InvokeAIClient"]

log = logging.getLogger("invokeai_py_client")

DEFAULT_URL = "http://localhost:9090"
T = TypeVar("T")


def _options(
    base_url: str | None,
    timeout: float | httpx.Timeout | None,
    max_retries: int,
    verify: bool | str,
    headers: Mapping[str, str] | None,
) -> ClientOptions:
    url = normalize_base_url(base_url or os.environ.get("INVOKEAI_URL") or DEFAULT_URL)
    if timeout is None:
        t = DEFAULT_TIMEOUT
    elif isinstance(timeout, httpx.Timeout):
        t = timeout
    else:
        t = httpx.Timeout(timeout, connect=min(10.0, float(timeout)))
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    return ClientOptions(
        base_url=url, timeout=t, max_retries=max_retries, verify=verify, headers=dict(headers or {})
    )


def _login_flow(email: str, password: str, remember_me: bool) -> Flow[dict[str, Any]]:
    answer = yield Call(
        "POST",
        "/api/v1/auth/login",
        json={"email": email, "password": password, "remember_me": remember_me},
        retry=False,
    )
    if not isinstance(answer, dict) or not answer.get("token"):
        raise InvokeAIError("login answered without a token")
    return answer


def _version_flow() -> Flow[str]:
    answer = yield Call("GET", "/api/v1/app/version")
    if not isinstance(answer, dict) or "version" not in answer:
        raise InvokeAIError(f"/api/v1/app/version answered {answer!r}, not a version")
    return str(answer["version"])


class _ClientBase:
    options: ClientOptions
    credentials: Credentials

    @property
    def base_url(self) -> str:
        return self.options.base_url

    def __repr__(self) -> str:
        auth = ", authenticated" if self.credentials.token else ""
        return f"{type(self).__name__}({self.options.base_url!r}{auth})"


class InvokeAIClient(_ClientBase):
    """A connection to one InvokeAI server (blocking API).

    Args:
        base_url: e.g. ``http://localhost:9090`` or ``https://host/invoke`` behind a
            reverse proxy; defaults to ``$INVOKEAI_URL``, then ``http://localhost:9090``.
        token: a bearer token (multi-user servers), never shown in reprs or logs.
        email, password: log in at construction (multi-user servers).
        timeout: seconds (or an ``httpx.Timeout``) per request.
        max_retries: retries of idempotent requests on connection errors, 429 and 502-504.
        verify: TLS verification (a CA bundle path, or False to disable).
        transport: an ``httpx.BaseTransport`` (tests inject faults through it).
        use_events: follow jobs over Socket.IO (falls back to polling when unavailable).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        email: str | None = None,
        password: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        verify: bool | str = True,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        use_events: bool = True,
        queue_id: str = "default",
    ) -> None:
        self.options = _options(base_url, timeout, max_retries, verify, headers)
        self.credentials = Credentials(token)
        self._transport = SyncTransport(self.options, self.credentials, transport)
        self._use_events = use_events
        self._events = SyncEventHub(self.options, self.credentials)
        self.queue_id = queue_id
        self._catalog: InvocationCatalog | None = None
        self._catalog_lock = threading.Lock()
        self._boards_lock = threading.Lock()
        self._upload_cache: dict[str, str] = {}
        if email is not None or password is not None:
            if not (email and password):
                raise ValueError("give both email and password to log in")
            self.login(email, password)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> InvokeAIClient:
        """A client for `url`; a sub-path (reverse proxy) is kept for every route."""
        return cls(url, **kwargs)

    # -- plumbing --------------------------------------------------------------------

    def _run(self, flow: Flow[T]) -> T:
        return run_sync(self, flow)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        retry: bool | None = None,
        raw: bool = False,
    ) -> Any:
        """Call any API route; returns the decoded JSON (bytes with `raw=True`).

        Paths not starting with ``/api/`` are relative to ``/api/v1``. Idempotent
        methods are retried on transient failures; others only with ``retry=True``.
        """
        call = Call(
            method.upper(), path, params=params, json=json, files=files, data=data, retry=retry,
            expect="bytes" if raw else "json",
        )
        return self._run(single(call))

    _make_request = request
    """The seed's name for `request`."""

    def login(self, email: str, password: str, *, remember_me: bool = False) -> dict[str, Any]:
        """Log in to a multi-user server; the token is kept (and renewed) by the client."""
        answer = self._run(_login_flow(email, password, remember_me))
        self.credentials.set(str(answer["token"]))
        return {k: v for k, v in answer.items() if k != "token"}

    def server_version(self) -> str:
        """The server's InvokeAI version, e.g. '6.14.2'."""
        return self._run(_version_flow())

    def invocation_catalog(self, *, refresh: bool = False) -> InvocationCatalog:
        """The server's node types and input specs (its /openapi.json, fetched once per client).

        Falls back to the snapshot the package ships when the schema cannot be had.
        """
        with self._catalog_lock:
            if self._catalog is None or refresh:
                from .workflow.schema import catalog_flow

                self._catalog = self._run(catalog_flow())
            return self._catalog

    def health_check(self) -> bool:
        """True when the server answers its API (the reason for False is logged)."""
        try:
            self.server_version()
        except InvokeAIError as exc:
            log.warning("health check of %s failed: %s", self.base_url, exc)
            return False
        return True

    # -- resources -------------------------------------------------------------------

    @cached_property
    def queue_repo(self) -> QueueRepository:
        return QueueRepository(self, self.queue_id)

    @cached_property
    def workflow_repo(self) -> WorkflowRepository:
        from .workflow.repo import WorkflowRepository

        return WorkflowRepository(self)

    @cached_property
    def board_repo(self) -> BoardRepository:
        from .boards import BoardRepository

        return BoardRepository(self)

    @cached_property
    def image_repo(self) -> ImageRepository:
        from .images import ImageRepository

        return ImageRepository(self)

    @cached_property
    def dnn_model_repo(self) -> ModelRepository:
        from .models import ModelRepository

        return ModelRepository(self)

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket and the HTTP connections."""
        self._events.close()
        self._transport.close()

    def __enter__(self) -> InvokeAIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncInvokeAIClient(_ClientBase):
    """The async twin of `InvokeAIClient`: same names, coroutines instead of blocking calls."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        verify: bool | str = True,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        use_events: bool = True,
        queue_id: str = "default",
    ) -> None:
        self.options = _options(base_url, timeout, max_retries, verify, headers)
        self.credentials = Credentials(token)
        self._transport = AsyncTransport(self.options, self.credentials, transport)
        self._use_events = use_events
        self._events = AsyncEventHub(self.options, self.credentials)
        self.queue_id = queue_id
        self._catalog: InvocationCatalog | None = None
        self._boards_lock = asyncio.Lock()
        self._upload_cache: dict[str, str] = {}

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> AsyncInvokeAIClient:
        return cls(url, **kwargs)

    async def _run(self, flow: Flow[T]) -> T:
        return await run_async(self, flow)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        retry: bool | None = None,
        raw: bool = False,
    ) -> Any:
        """Call any API route (see `InvokeAIClient.request`)."""
        call = Call(
            method.upper(), path, params=params, json=json, files=files, data=data, retry=retry,
            expect="bytes" if raw else "json",
        )
        return await self._run(single(call))

    _make_request = request

    async def login(self, email: str, password: str, *, remember_me: bool = False) -> dict[str, Any]:
        answer = await self._run(_login_flow(email, password, remember_me))
        self.credentials.set(str(answer["token"]))
        return {k: v for k, v in answer.items() if k != "token"}

    async def server_version(self) -> str:
        return await self._run(_version_flow())

    async def invocation_catalog(self, *, refresh: bool = False) -> InvocationCatalog:
        """The server's node types and input specs (see `InvokeAIClient.invocation_catalog`).

        Workflow handles of the async client use it once it has been loaded, and the
        bundled snapshot before that.
        """
        if self._catalog is None or refresh:
            from .workflow.schema import catalog_flow

            self._catalog = await self._run(catalog_flow())
        return self._catalog

    async def health_check(self) -> bool:
        try:
            await self.server_version()
        except InvokeAIError as exc:
            log.warning("health check of %s failed: %s", self.base_url, exc)
            return False
        return True

    @cached_property
    def queue_repo(self) -> AsyncQueueRepository:
        return AsyncQueueRepository(self, self.queue_id)

    @cached_property
    def workflow_repo(self) -> AsyncWorkflowRepository:
        from .workflow.repo import AsyncWorkflowRepository

        return AsyncWorkflowRepository(self)

    @cached_property
    def board_repo(self) -> AsyncBoardRepository:
        from .boards import AsyncBoardRepository

        return AsyncBoardRepository(self)

    @cached_property
    def image_repo(self) -> AsyncImageRepository:
        from .images import AsyncImageRepository

        return AsyncImageRepository(self)

    @cached_property
    def dnn_model_repo(self) -> AsyncModelRepository:
        from .models import AsyncModelRepository

        return AsyncModelRepository(self)

    async def close(self) -> None:
        await self._events.close()
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncInvokeAIClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
