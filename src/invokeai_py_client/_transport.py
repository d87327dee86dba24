"""The one place HTTP happens: URLs, auth, timeouts, retries and error mapping.

The retry policy is written once as a generator (`_send_flow`) that yields what to
do next (send a request, or sleep) and receives the outcome; `SyncTransport` and
`AsyncTransport` only execute those steps, so both behave identically.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ._exceptions import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    InvokeAIError,
    status_error_class,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncTransport",
    "ClientOptions",
    "Credentials",
    "SyncTransport",
]

log = logging.getLogger("invokeai_py_client")

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 60.0


@dataclass
class Credentials:
    """The bearer token, kept out of every repr, log line and exception."""

    token: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(token={'***' if self.token else None})"

    def set(self, token: str | None) -> None:
        with self.lock:
            self.token = token


@dataclass(frozen=True)
class ClientOptions:
    """Connection settings shared by the sync and async clients."""

    base_url: str
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    max_retries: int = 2
    verify: bool | str = True
    headers: Mapping[str, str] = field(default_factory=dict)
    backoff_base: float = 0.5
    backoff_max: float = 8.0

    @property
    def prefix(self) -> str:
        """The reverse-proxy sub-path of the base URL ('' or '/invoke')."""
        return urlsplit(self.base_url).path.rstrip("/")

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def url(self, path: str) -> str:
        """The absolute URL of an API path.

        Paths starting with `/api/`, `/ws/` or `/openapi.json` are taken as they are;
        any other path is relative to `/api/v1` (as in `request("GET", "/boards/")`).
        """
        if path.startswith(("http://", "https://")):
            return path
        if not path.startswith("/"):
            path = "/" + path
        if not path.startswith(("/api/", "/ws/", "/openapi.json")):
            path = "/api/v1" + path
        return self.origin + self.prefix + path


def normalize_base_url(url: str) -> str:
    """`localhost:9090` -> `http://localhost:9090`; strips a trailing slash and `/api/v1`."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvokeAIError(f"not an http(s) URL: {url!r}")
    path = parts.path.rstrip("/")
    for suffix in ("/api/v1", "/api/v2", "/api"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return f"{parts.scheme}://{parts.netloc}{path}"


# --- the retry flow -------------------------------------------------------------


@dataclass(frozen=True)
class _Send:
    request: httpx.Request


@dataclass(frozen=True)
class _Sleep:
    seconds: float


_Step = _Send | _Sleep
_Outcome = httpx.Response | Exception | None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta or HTTP date), capped; None if absent."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        import datetime as _dt

        seconds = (when - _dt.datetime.now(when.tzinfo or _dt.UTC)).total_seconds()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Full-jitter exponential backoff for retry number `attempt` (0-based)."""
    return random.uniform(0, min(cap, base * (2**attempt)))


def _send_flow(
    request: httpx.Request, options: ClientOptions, retry: bool | None
) -> Generator[_Step, _Outcome, httpx.Response]:
    """Send `request`, retrying where it is safe; return the final response.

    `retry=None` means "retry if the method is idempotent". Enqueueing is never
    retried: its callers pass `retry=False` and resolve ambiguity by lookup.
    """
    may_retry = request.method in IDEMPOTENT_METHODS if retry is None else retry
    attempt = 0
    while True:
        outcome = yield _Send(request)
        if isinstance(outcome, Exception):
            if not may_retry or attempt >= options.max_retries:
                raise _wrap_transport_error(outcome, request)
            delay = backoff_seconds(attempt, options.backoff_base, options.backoff_max)
            log.warning(
                "%s %s failed (%s); retry %d/%d in %.2fs",
                request.method,
                _safe_url(request),
                type(outcome).__name__,
                attempt + 1,
                options.max_retries,
                delay,
            )
        else:
            assert outcome is not None
            if (
                outcome.status_code not in RETRY_STATUSES
                or not may_retry
                or attempt >= options.max_retries
            ):
                return outcome
            delay = retry_after_seconds(outcome) or backoff_seconds(
                attempt, options.backoff_base, options.backoff_max
            )
            log.warning(
                "%s %s answered %d; retry %d/%d in %.2fs",
                request.method,
                _safe_url(request),
                outcome.status_code,
                attempt + 1,
                options.max_retries,
                delay,
            )
        attempt += 1
        yield _Sleep(delay)


def _safe_url(request: httpx.Request) -> str:
    return str(request.url.copy_with(query=None))


def _wrap_transport_error(exc: Exception, request: httpx.Request) -> InvokeAIError:
    if isinstance(exc, InvokeAIError):
        return exc
    where = f"{request.method} {_safe_url(request)}"
    if isinstance(exc, httpx.TimeoutException):
        err: InvokeAIError = APITimeoutError(f"{where} timed out ({type(exc).__name__})", request=request)
    elif isinstance(exc, httpx.HTTPError):
        err = APIConnectionError(f"{where} failed: {type(exc).__name__}: {exc}", request=request)
    else:
        err = APIConnectionError(f"{where} failed: {type(exc).__name__}: {exc}", request=request)
    err.__cause__ = exc
    return err


def check_response(response: httpx.Response, *, expect_json: bool = True) -> httpx.Response:
    """Raise the typed error for an error status or a non-API answer; else return it."""
    request = response.request
    where = f"{request.method} {_safe_url(request)}"
    ctype = response.headers.get("content-type", "")
    if response.status_code >= 400:
        body: Any = None
        try:
            body = response.json() if "json" in ctype else response.text[:2000]
        except ValueError:
            body = response.text[:2000]
        detail = body.get("detail") if isinstance(body, dict) else body
        cls = status_error_class(response.status_code)
        raise cls(f"{where} -> {response.status_code}: {_brief(detail)}", response=response, body=body)
    if expect_json and response.status_code != 204 and "json" not in ctype:
        # Unknown routes answer 200 with the web UI's index.html.
        raise APIResponseError(
            f"{where} answered {response.status_code} {ctype or 'without a content type'}, "
            "not JSON: the route does not exist on this server (or a proxy answered)",
            response=response,
        )
    return response


def _brief(detail: Any, limit: int = 600) -> str:
    text = detail if isinstance(detail, str) else repr(detail)
    return text if len(text) <= limit else text[:limit] + "..."


# --- executors -------------------------------------------------------------------


class _BaseTransport:
    def __init__(self, options: ClientOptions, credentials: Credentials) -> None:
        self.options = options
        self.credentials = credentials

    def build_request(
        self,
        client: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> httpx.Request:
        merged = {**self.options.headers, **(headers or {})}
        token = self.credentials.token
        if token:
            merged["Authorization"] = f"Bearer {token}"
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        extensions = {}
        if timeout is not None:
            t = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
            extensions["timeout"] = t.as_dict()
        return client.build_request(
            method.upper(),
            self.options.url(path),
            params=clean_params or None,
            json=json,
            files=files,
            data=data,
            headers=merged,
            extensions=extensions or None,
        )

    def _note_refreshed_token(self, response: httpx.Response) -> None:
        refreshed = response.headers.get("x-refreshed-token")
        if refreshed:
            self.credentials.set(refreshed)


class SyncTransport(_BaseTransport):
    """Blocking transport over one `httpx.Client`."""

    def __init__(
        self,
        options: ClientOptions,
        credentials: Credentials,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(options, credentials)
        self.http = httpx.Client(
            timeout=options.timeout, verify=options.verify, transport=transport, follow_redirects=True
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        retry: bool | None = None,
        stream: bool = False,
        expect_json: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        request = self.build_request(self.http, method, path, **kwargs)
        flow = _send_flow(request, self.options, retry)
        step = next(flow)
        try:
            while True:
                if isinstance(step, _Sleep):
                    import time

                    time.sleep(step.seconds)
                    step = flow.send(None)
                    continue
                outcome: _Outcome
                try:
                    outcome = self.http.send(step.request, stream=stream)
                    if stream and outcome.status_code in RETRY_STATUSES:
                        outcome.read()
                except httpx.HTTPError as exc:
                    outcome = exc
                step = flow.send(outcome)
        except StopIteration as done:
            response: httpx.Response = done.value
        self._note_refreshed_token(response)
        if stream and response.status_code >= 400:
            response.read()
        return check_response(response, expect_json=expect_json and not stream)

    def close(self) -> None:
        self.http.close()


class AsyncTransport(_BaseTransport):
    """Non-blocking transport over one `httpx.AsyncClient`."""

    def __init__(
        self,
        options: ClientOptions,
        credentials: Credentials,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(options, credentials)
        self.http = httpx.AsyncClient(
            timeout=options.timeout, verify=options.verify, transport=transport, follow_redirects=True
        )

    async def send(
        self,
        method: str,
        path: str,
        *,
        retry: bool | None = None,
        stream: bool = False,
        expect_json: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        import asyncio

        request = self.build_request(self.http, method, path, **kwargs)
        flow = _send_flow(request, self.options, retry)
        step = next(flow)
        try:
            while True:
                if isinstance(step, _Sleep):
                    await asyncio.sleep(step.seconds)
                    step = flow.send(None)
                    continue
                outcome: _Outcome
                try:
                    outcome = await self.http.send(step.request, stream=stream)
                    if stream and outcome.status_code in RETRY_STATUSES:
                        await outcome.aread()
                except httpx.HTTPError as exc:
                    outcome = exc
                step = flow.send(outcome)
        except StopIteration as done:
            response: httpx.Response = done.value
        self._note_refreshed_token(response)
        if stream and response.status_code >= 400:
            await response.aread()
        return check_response(response, expect_json=expect_json and not stream)

    async def aclose(self) -> None:
        await self.http.aclose()
