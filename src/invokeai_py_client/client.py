"""`InvokeAIClient` and its async twin `AsyncInvokeAIClient`.

Both are the same class over a different runner (see `_resource.py`): the same
constructor arguments, the same methods and resources, coroutines on the async one.

    >>> from invokeai_py_client import InvokeAIClient
    >>> client = InvokeAIClient.from_url("http://127.0.0.1:9090")   # doctest: +SKIP
    >>> client.server_version()                                      # doctest: +SKIP
    '6.14.2'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Self, Unpack

import httpx

from ._compat.client import ClientCompat, LegacyResponse, legacy_base_url
from ._exceptions import InvokeAIError, NotFoundError, UnsupportedByServerError, ValidationError
from ._flow import AsyncRunner, Call, CallOptions, Flow, Once, Runner, SyncRunner, call, perform
from ._following import close_trackers
from ._resource import Resource, operation
from ._transport import (
    DEFAULT_OUTAGE_TIMEOUT,
    DEFAULT_TIMEOUT,
    ClientOptions,
    Credentials,
    normalize_base_url,
    redact_url,
)
from .boards import BoardRepository
from .images import ImageRepository
from .model_manager import ModelRepository
from .queue import QueueRepository
from .workflow.repo import WorkflowRepository, catalog_flow
from .workflow.schema import InvocationCatalog

__all__ = ["DEFAULT_URL", "AsyncInvokeAIClient", "InvokeAIClient"]

log = logging.getLogger("invokeai_py_client")

DEFAULT_URL = "http://localhost:9090"


def _options(
    base_url: str | None,
    timeout: float | httpx.Timeout | None,
    max_retries: int,
    verify: bool | str,
    headers: Mapping[str, str] | None,
    outage_timeout: float | None = DEFAULT_OUTAGE_TIMEOUT,
) -> ClientOptions:
    if base_url is not None and not base_url.strip():
        raise ValidationError("the server URL is empty (pass None to use $INVOKEAI_URL or the default)")
    url = normalize_base_url(base_url or os.environ.get("INVOKEAI_URL") or DEFAULT_URL)
    if timeout is None:
        t = DEFAULT_TIMEOUT
    elif isinstance(timeout, httpx.Timeout):
        t = timeout
    elif isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValidationError(f"timeout must be a number of seconds > 0 (or an httpx.Timeout), got {timeout!r}")
    else:
        t = httpx.Timeout(timeout, connect=min(10.0, float(timeout)))
    if max_retries < 0:
        raise ValidationError(f"max_retries must be >= 0, got {max_retries}")
    if outage_timeout is not None and (
        isinstance(outage_timeout, bool) or not isinstance(outage_timeout, int | float) or not outage_timeout > 0
    ):
        raise ValidationError(f"outage_timeout must be a number of seconds > 0 (or None), got {outage_timeout!r}")
    return ClientOptions(
        base_url=url, timeout=t, max_retries=max_retries, verify=verify, headers=dict(headers or {}),
        outage_timeout=None if outage_timeout is None else float(outage_timeout),
    )


LOGIN = "/api/v1/auth/login"


def _login_flow(credentials: Credentials, email: str, password: str, remember_me: bool) -> Flow[dict[str, Any]]:
    try:
        answer = yield from call(
            dict[str, Any], "POST", LOGIN,
            json={"email": email, "password": password, "remember_me": remember_me}, retry=False,
            authenticate=False, secret=True,
        )
    except NotFoundError as exc:
        # User accounts arrived in 6.12. The schema cannot be asked first: fetching it
        # would wait for this very login.
        version = yield from call(dict[str, Any], "GET", "/api/v1/app/version", authenticate=False)
        raise UnsupportedByServerError(
            f"logging in needs POST {LOGIN}, which InvokeAI {version.get('version')} does not have "
            "(it has no user accounts: connect without email and password)",
            server_version=version.get("version"), route=f"POST {LOGIN}", feature="logging in",
        ) from exc
    if not answer.get("token"):
        raise InvokeAIError("login answered without a token")
    credentials.set(str(answer["token"]))
    return {k: v for k, v in answer.items() if k != "token"}


class _Client(ClientCompat, Resource[Runner]):
    """What both clients are: a runner, the server's resources, and a few calls of their own."""

    _runner_type: type[SyncRunner | AsyncRunner]

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
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        use_events: bool = True,
        queue_id: str = "default",
        host: str | None = None,
        port: int | None = None,
        use_https: bool | None = None,
        base_path: str | None = None,
        api_key: str | None = None,
        verify_ssl: bool | None = None,
        outage_timeout: float | None = DEFAULT_OUTAGE_TIMEOUT,
    ) -> None:
        if (email is not None or password is not None) and not (email and password):
            raise ValidationError("give both email and password to log in")
        if api_key is not None and token is not None:
            raise ValidationError("give token or api_key (1.1.1's name for it), not both")
        base_url = legacy_base_url(base_url, host, port, use_https, base_path)
        verify = verify if verify_ssl is None else verify_ssl
        options = _options(base_url, timeout, max_retries, verify, headers, outage_timeout)
        credentials = Credentials(token if api_key is None else api_key)
        runner: Any = self._runner_type(options, credentials, transport=transport, use_events=use_events)
        self._runner = runner
        self.queue_id = queue_id
        if email and password:
            runner.login = Once("login", lambda: _login_flow(credentials, email, password, False))
            if isinstance(runner, SyncRunner):  # the async client cannot await here: its first request logs in
                try:
                    runner.run(perform(runner.login))
                except BaseException:
                    runner.close()
                    raise
        if use_events and transport is None:
            # Jobs are followed over the socket: get it ready now (on a thread of its own),
            # not at the first submit.
            runner.hub.connect_soon()

    @property
    def options(self) -> ClientOptions:
        return self._runner.options

    @property
    def credentials(self) -> Credentials:
        return self._runner.credentials

    @property
    def base_url(self) -> str:
        return self.options.base_url

    def __repr__(self) -> str:
        auth = ", authenticated" if self.credentials.token else ""
        return f"{type(self).__name__}({redact_url(self.options.base_url)!r}{auth})"

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        """A client for `url`; a sub-path (reverse proxy) is kept for every route."""
        return cls(url, **kwargs)

    @operation
    def request(self, method: str, path: str, *, raw: bool = False, **options: Unpack[CallOptions]) -> Flow[Any]:
        """Call any API route; returns the decoded JSON (bytes with `raw=True`).

        Paths not starting with ``/api/`` are relative to ``/api/v1``. Idempotent
        methods are retried on transient failures; others only with ``retry=True``.
        """
        answer = yield Call(method.upper(), path, expect="bytes" if raw else "json", **options)
        return answer

    @operation
    def _make_request(self, method: str, path: str, **options: Unpack[CallOptions]) -> Flow[LegacyResponse]:
        """1.1.1's raw call (the seed uses it): `request` answering a response object.

        It has `.json()`, `.status_code`, `.content` and `.ok`; error statuses raise the
        same `APIStatusError` subclasses as every other call.
        """
        response = yield Call(method.upper(), path, expect="response", **options)
        return LegacyResponse(response)

    @operation
    def login(self, email: str, password: str, *, remember_me: bool = False) -> Flow[dict[str, Any]]:
        """Log in to a multi-user server; the token is kept (and renewed) by the client."""
        return _login_flow(self.credentials, email, password, remember_me)

    @operation
    def server_version(self) -> Flow[str]:
        """The server's InvokeAI version, e.g. '6.14.2'."""
        answer = yield from call(dict[str, Any], "GET", "/api/v1/app/version")
        if "version" not in answer:
            raise InvokeAIError(f"/api/v1/app/version answered {answer!r}, not a version")
        return str(answer["version"])

    @operation
    def invocation_catalog(self, *, refresh: bool = False) -> Flow[InvocationCatalog]:
        """The server's node types and input specs (worked out once per client).

        From the snapshot the package ships of the server's release, else its
        `/openapi.json`; `refresh` fetches the server's own schema (node packs included).
        """
        if refresh:
            live: InvocationCatalog = yield Once("live-catalog", lambda: catalog_flow(live=True, refresh=True), True)
            return live
        catalog: InvocationCatalog = yield Once("catalog", catalog_flow)
        return catalog

    @operation
    def health_check(self) -> Flow[bool]:
        """True when the server answers its API (the reason for False is logged)."""
        try:
            yield from call(dict[str, Any], "GET", "/api/v1/app/version")
        except InvokeAIError as exc:
            log.warning("health check of %s failed: %s", redact_url(self.base_url), exc)
            return False
        return True

    @cached_property
    def queue_repo(self) -> QueueRepository[Runner]:
        return QueueRepository(self._runner, self.queue_id)

    @cached_property
    def workflow_repo(self) -> WorkflowRepository[Runner]:
        return WorkflowRepository(self._runner, self.queue_repo)

    @cached_property
    def board_repo(self) -> BoardRepository[Runner]:
        return BoardRepository(self._runner)

    @cached_property
    def image_repo(self) -> ImageRepository[Runner]:
        return ImageRepository(self._runner)

    @cached_property
    def dnn_model_repo(self) -> ModelRepository[Runner]:
        return ModelRepository(self._runner)


class InvokeAIClient(_Client[SyncRunner]):
    """A connection to one InvokeAI server (blocking API).

    Args:
        base_url: e.g. ``http://localhost:9090`` or ``https://host/invoke`` behind a
            reverse proxy; defaults to ``$INVOKEAI_URL``, then ``http://localhost:9090``.
        token: a bearer token (multi-user servers), never shown in reprs or logs.
        email: log in (multi-user servers) with `password`: at construction on the
            sync client, before the first request on the async one.
        password: the password for `email`, never shown in reprs or logs.
        timeout: seconds (or an ``httpx.Timeout``) per request.
        max_retries: retries of idempotent requests on connection errors, 429 and 502-504.
        verify: TLS verification (a CA bundle path, or False to disable).
        headers: sent with every request.
        transport: an ``httpx.BaseTransport`` (sync) or ``httpx.AsyncBaseTransport``
            (async); tests inject faults through it.
        use_events: follow jobs over Socket.IO (falls back to polling when unavailable).
        queue_id: the server queue to use.
        host: with `port`, `use_https` and `base_path`: 1.1.1's way to give the URL.
        port: the server's port (1.1.1; default 9090).
        use_https: https instead of http (1.1.1).
        base_path: a sub-path behind a reverse proxy (1.1.1).
        api_key: 1.1.1's name for `token`.
        verify_ssl: 1.1.1's name for `verify`.
        outage_timeout: seconds a wait rides out a server that cannot be reached (a
            restart, a network outage) before its job fails with `APIConnectionError`;
            None waits for good. The items stay in the server's database: re-attach
            with `queue_repo.attach_job`/`attach_batch` later.
    """

    _runner_type = SyncRunner

    def close(self) -> None:
        """Close the socket and the HTTP connections."""
        close_trackers(self._runner)
        self._runner.close()

    def __enter__(self) -> InvokeAIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncInvokeAIClient(_Client[AsyncRunner]):
    """The async twin of `InvokeAIClient`: same arguments and names, coroutines instead of blocking calls."""

    _runner_type = AsyncRunner

    async def close(self) -> None:
        """Close the socket and the HTTP connections."""
        close_trackers(self._runner)
        await self._runner.close()

    async def __aenter__(self) -> AsyncInvokeAIClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
