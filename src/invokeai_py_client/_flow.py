"""Operations written once as generators, run by one sync and one async driver.

A flow is a generator that yields steps and gets each step's typed answer back (or
has the step's `InvokeAIError` thrown into it); its return value is the operation's
result. Steps:

- `Call[T]`: one API request, answered decoded and validated into `T`
  (`board = yield from call(Board, "GET", path)` is a `Board`). The driver expands
  it into `exchange`, the retry policy, itself a flow of primitive steps.
- `Pause`: sleep.
- a `CustomStep`: anything with its own sync and async way of running (a streamed
  download, waiting for a socket event), given only the runner.

`SyncRunner.run` and `AsyncRunner.run` are the only drivers; they differ in nothing
but `await` and close the flow on every exit, as httpx closes its auth flows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Protocol, TypedDict, TypeVar, Unpack, cast

import httpx
import pydantic

from ._exceptions import APIResponseError, AuthenticationError, InvokeAIError, ValidationError
from ._socket import AsyncEventHub, SyncEventHub
from ._transport import (
    IDEMPOTENT_METHODS,
    RETRY_STATUSES,
    ClientOptions,
    Credentials,
    backoff_seconds,
    check_response,
    retry_after_seconds,
    safe_url,
    wrap_transport_error,
)

__all__ = [
    "AsyncRunner",
    "Call",
    "CallOptions",
    "CustomStep",
    "Exclusive",
    "Flow",
    "Once",
    "Pause",
    "Runner",
    "SyncRunner",
    "backoff",
    "call",
    "check_media",
    "exchange",
    "perform",
]

log = logging.getLogger("invokeai_py_client")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_runner = TypeVar("T_runner")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request; its answer is validated into `into` (raw JSON when None).

    `retry=None` retries idempotent methods only. `expect="bytes"` answers the body
    (`"image"`: and checks that it is one),
    `stream=True` the open `httpx.Response` (the caller closes it).
    """

    method: str
    path: str
    into: type[T] | None = None
    params: Mapping[str, Any] | None = None
    json: Any = None
    files: Any = None
    data: Any = None
    retry: bool | None = None
    expect: Literal["json", "bytes", "image", "none", "response"] = "json"
    timeout: float | None = None
    stream: bool = False
    authenticate: bool = True
    """False for the login request itself (it must not wait for the client's login)."""
    secret: bool = False
    """The body holds a secret (a password): an error keeps no copy of the request body."""


@dataclass(frozen=True)
class Pause:
    """Sleep this many seconds, then continue."""

    seconds: float

    def run_sync(self, runner: SyncRunner) -> None:
        time.sleep(max(self.seconds, 0.0))

    async def run_async(self, runner: AsyncRunner) -> None:
        await asyncio.sleep(max(self.seconds, 0.0))


@dataclass(frozen=True)
class Send:
    """The primitive behind a `Call`: send it once, answer the raw response."""

    call: Call[Any]

    def run_sync(self, runner: SyncRunner) -> httpx.Response:
        return runner.send(self.call)

    async def run_async(self, runner: AsyncRunner) -> httpx.Response:
        return await runner.send(self.call)


class CustomStep(Protocol[T_co]):
    """A step with its own sync and async way of running; it sees only the runner."""

    def run_sync(self, runner: SyncRunner) -> T_co: ...

    def run_async(self, runner: AsyncRunner) -> Awaitable[T_co]: ...


Step = Call[Any] | Pause | CustomStep[Any]
Flow = Generator[Step, Any, T]
"""An operation: yields steps, returns its result."""



class CallOptions(TypedDict, total=False):
    """What a request may carry beyond its method and path (see `Call`)."""

    params: Mapping[str, Any] | None
    json: Any
    files: Any
    data: Any
    retry: bool | None
    timeout: float | None
    authenticate: bool
    secret: bool


def call(into: type[T], method: str, path: str, **options: Unpack[CallOptions]) -> Flow[T]:
    """One request whose JSON answer is validated into `into` (a model, `list[Model]`, `dict`...)."""
    answer: T = yield Call(method, path, into, **options)
    return answer


def perform(step: Step) -> Flow[Any]:
    """A flow of the one step `step`."""
    answer = yield step
    return answer


def backoff(first: float = 0.05, cap: float = 1.0, factor: float = 1.6) -> Iterator[float]:
    """Poll intervals: `first`, growing by `factor` up to `cap`, forever."""
    delay = first
    while True:
        yield delay
        delay = min(delay * factor, cap)


# --- decoding and the retry policy (pure) ----------------------------------------------


@functools.lru_cache(maxsize=256)
def _adapter(into: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(into)


def _decode(call: Call[Any], response: httpx.Response) -> Any:
    if call.stream or call.expect == "response":
        return response
    if call.expect == "image":
        check_media(response, "image/")
    if call.expect in ("bytes", "image"):
        return response.content
    if call.expect == "none" or response.status_code == 204 or not response.content:
        value = None
    else:
        try:
            value = response.json()
        except ValueError as exc:
            raise APIResponseError(
                f"{call.method} {safe_url(response.request)}: the server's JSON is malformed ({exc})",
                response=response,
            ) from exc
    if call.into is None:
        return value
    try:
        if isinstance(call.into, type) and issubclass(call.into, pydantic.BaseModel):
            return call.into.model_validate(value)
        return _adapter(call.into).validate_python(value)  # type: ignore[arg-type]  # types are hashable
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the answer"
        raise APIResponseError(
            f"{call.method} {safe_url(response.request)}: the answer does not fit "
            f"{getattr(call.into, '__name__', call.into)} ({where}: {first['msg']}; "
            f"{exc.error_count()} problem(s))",
            response=response,
        ) from exc


def check_media(response: httpx.Response, prefix: str) -> None:
    """Raise `APIResponseError` unless the response's content type starts with `prefix`."""
    media = response.headers.get("content-type", "")
    if not media.startswith(prefix):
        raise APIResponseError(
            f"{response.request.method} {safe_url(response.request)} answered {media or 'no content type'}, "
            f"not {prefix.rstrip('/')} (a proxy's page?)",
            response=response,
        )


def exchange(call: Call[T], options: ClientOptions) -> Generator[CustomStep[Any], Any, T]:
    """Send `call`, retrying where it is safe; answer its decoded result.

    Connection errors, 429 and 502-504 are retried with jittered backoff (honouring
    `Retry-After`) for idempotent methods, or when the call says `retry=True`.
    Enqueueing passes `retry=False` and resolves a lost answer by lookup.
    """
    may_retry = call.method.upper() in IDEMPOTENT_METHODS if call.retry is None else call.retry
    attempt = 0
    while True:
        try:
            response: httpx.Response = yield Send(call)
        except httpx.HTTPError as exc:
            request = _request_of(exc)
            if not may_retry or attempt >= options.max_retries:
                raise wrap_transport_error(exc, request) from exc
            delay = backoff_seconds(attempt, options.backoff_base, options.backoff_max)
            log.warning(
                "%s %s failed (%s); retry %d/%d in %.2fs",
                call.method, safe_url(request), type(exc).__name__, attempt + 1, options.max_retries, delay,
            )
        else:
            if response.status_code not in RETRY_STATUSES or not may_retry or attempt >= options.max_retries:
                check_response(response, expect_json=call.expect == "json" and not call.stream)
                return cast(T, _decode(call, response))
            delay = retry_after_seconds(response) or backoff_seconds(
                attempt, options.backoff_base, options.backoff_max
            )
            log.warning(
                "%s %s answered %d; retry %d/%d in %.2fs",
                call.method, safe_url(response.request), response.status_code,
                attempt + 1, options.max_retries, delay,
            )
        attempt += 1
        yield Pause(delay)


def _request_of(exc: httpx.HTTPError) -> httpx.Request:
    try:
        return exc.request
    except RuntimeError:  # an httpx error raised before a request existed
        return httpx.Request("GET", "http://unknown/")


def _expanded(flow: Flow[T], runner: SyncRunner | AsyncRunner) -> Generator[CustomStep[Any], Any, T]:
    """`flow` with every `Call` expanded into `exchange`: only primitive steps remain.

    A pending login runs (once per client) before the first request that needs it.
    A step's `InvokeAIError` is thrown into `flow`; anything else (KeyboardInterrupt,
    cancellation) closes it, so its `finally` blocks run.
    """
    answer: Any = None
    error: InvokeAIError | None = None
    try:
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(answer)
            except StopIteration as done:
                return cast(T, done.value)
            answer, error = None, None
            try:
                if not isinstance(step, Call):
                    answer = yield step
                    continue
                login = runner.login
                if step.authenticate and login is not None and login.key not in runner.memo:
                    yield login
                token = runner.credentials.token
                try:
                    answer = yield from exchange(step, runner.options)
                except AuthenticationError:
                    if not step.authenticate or login is None:
                        raise
                    # The token expired (a client that only reads, or waits on the socket,
                    # never gets a renewed one): log in again and resend, once. A 401 is
                    # answered before the server does anything, so resending is safe.
                    yield _Relogin(login, token)
                    answer = yield from exchange(step, runner.options)
            except InvokeAIError as exc:
                error = _without_body(exc) if isinstance(step, Call) and step.secret else exc
    finally:
        flow.close()


def _without_body(exc: InvokeAIError) -> InvokeAIError:
    """`exc` keeping only a bodiless copy of its request (nor the httpx error it came from)."""
    request = getattr(exc, "request", None)
    if isinstance(request, httpx.Request):
        bodiless = httpx.Request(request.method, request.url)
        exc.request = bodiless  # type: ignore[attr-defined]  # every error with a request has the attribute
        response = getattr(exc, "response", None)
        if isinstance(response, httpx.Response):
            response.request = bodiless
    exc.__cause__ = None
    exc.__suppress_context__ = True
    return exc


class _Stepping(Generic[T]):
    """One flow being driven: hands out its primitive steps, takes back their outcomes.

    The drivers differ only in how they perform a step (`await` or not); this holds
    everything else, and closes the flow on every exit.
    """

    def __init__(self, flow: Flow[T], runner: SyncRunner | AsyncRunner) -> None:
        self._steps = _expanded(flow, runner)
        self._reply: tuple[Any, BaseException | None] = (None, None)
        self.result: T

    def __enter__(self) -> _Stepping[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self._steps.close()

    def __iter__(self) -> _Stepping[T]:
        return self

    def __next__(self) -> CustomStep[Any]:
        answer, error = self._reply
        self._reply = (None, None)
        try:
            return self._steps.throw(error) if error is not None else self._steps.send(answer)
        except StopIteration as done:
            self.result = done.value
            raise StopIteration from None

    def settle(self, perform: Callable[[T_runner], Any], runner: T_runner) -> None:
        try:
            self._reply = (perform(runner), None)
        except (httpx.HTTPError, InvokeAIError) as exc:
            self._reply = (None, exc)

    async def settle_async(self, pending: Awaitable[Any]) -> None:
        try:
            self._reply = (await pending, None)
        except (httpx.HTTPError, InvokeAIError) as exc:
            self._reply = (None, exc)


# --- the drivers ----------------------------------------------------------------------


class _RunnerBase:
    """What both drivers hold: settings, the token, per-client memos, the pending login."""

    transport_type: ClassVar[type]
    _make: ClassVar[tuple[Callable[..., Any], Callable[..., Any]]]
    """The HTTP client and the event hub classes of this driver."""

    def __init__(
        self, options: ClientOptions, credentials: Credentials, *, transport: Any = None, use_events: bool = True
    ) -> None:
        if transport is not None and not isinstance(transport, self.transport_type):
            raise ValidationError(
                f"{type(self).__name__} takes an httpx.{self.transport_type.__name__}, "
                f"not {type(transport).__name__}"
            )
        self.options = options
        self.credentials = credentials
        self.use_events = use_events
        http_type, hub_type = self._make
        self.http = http_type(transport=transport, **options.http_settings())
        self.hub = hub_type(options, credentials)
        self._locks: dict[str, Any] = {}
        self._locks_lock = threading.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.memo: dict[str, Any] = {}
        """Results of `Once` steps, per client."""
        self.login: Once[Any] | None = None
        """A login to run before the first authenticated request (see `_expanded`)."""

    def request_for(self, call: Call[Any], http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The HTTP request for `call`, with the client's headers and current token."""
        headers = dict(self.options.headers)
        token = self.credentials.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.credentials.take_revoked():
            http.cookies.clear()  # the server's media cookie carries the token too: it goes with it
        params = {k: v for k, v in (call.params or {}).items() if v is not None}
        return http.build_request(
            call.method.upper(), self.options.url(call.path), params=params or None, json=call.json,
            files=call.files, data=call.data, headers=headers,
            extensions=None if call.timeout is None else {"timeout": httpx.Timeout(call.timeout).as_dict()},
        )

    def auth(self) -> httpx.BasicAuth | None:
        """Basic auth from the URL's userinfo, unless a bearer token speaks for the client."""
        return None if self.credentials.token else self.options.basic_auth

    def received(self, call: Call[Any], response: httpx.Response) -> bool:
        """Note a renewed token; True when a streamed failure must be read before it is checked."""
        refreshed = response.headers.get("x-refreshed-token")
        if refreshed:  # multi-user servers renew the token on every successful write
            self.credentials.set(refreshed)
        return call.stream and (response.status_code >= 400 or response.status_code in RETRY_STATUSES)


class SyncRunner(_RunnerBase):
    """Runs flows with blocking I/O: one `httpx.Client` and the client's event socket."""

    transport_type = httpx.BaseTransport
    http: httpx.Client
    hub: SyncEventHub
    _make = (httpx.Client, SyncEventHub)

    def run(self, flow: Flow[T]) -> T:
        """Run a flow to its result."""
        with _Stepping(flow, self) as steps:
            for step in steps:
                steps.settle(step.run_sync, self)
        return steps.result

    def send(self, call: Call[Any]) -> httpx.Response:
        response = self.http.send(self.request_for(call, self.http), stream=call.stream, auth=self.auth())
        if self.received(call, response):
            with contextlib.closing(response):
                response.read()
        return response

    def lock(self, name: str) -> threading.Lock:
        """This client's lock called `name` (e.g. around get-or-create of a board)."""
        with self._locks_lock:
            lock: threading.Lock = self._locks.setdefault(name, threading.Lock())
            return lock

    def close(self) -> None:
        self.hub.close()
        self.http.close()


class AsyncRunner(_RunnerBase):
    """Runs flows with non-blocking I/O: one `httpx.AsyncClient` and the event socket."""

    transport_type = httpx.AsyncBaseTransport
    http: httpx.AsyncClient
    hub: AsyncEventHub
    _make = (httpx.AsyncClient, AsyncEventHub)

    async def run(self, flow: Flow[T]) -> T:
        """Run a flow to its result."""
        with _Stepping(flow, self) as steps:
            for step in steps:
                await steps.settle_async(step.run_async(self))
        return steps.result

    async def send(self, call: Call[Any]) -> httpx.Response:
        response = await self.http.send(self.request_for(call, self.http), stream=call.stream, auth=self.auth())
        if self.received(call, response):
            async with contextlib.aclosing(response):
                await response.aread()
        return response

    def lock(self, name: str) -> asyncio.Lock:
        """This client's lock called `name` (made on first use, in the running loop)."""
        lock: asyncio.Lock = self._locks.setdefault(name, asyncio.Lock())
        return lock

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a background task (e.g. the job tracker) until it ends or the client closes."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.hub.close()
        await self.http.aclose()


Runner = TypeVar("Runner", SyncRunner, AsyncRunner)
"""Either driver: resources are written once over it (see `_resource.py`)."""


@dataclass(frozen=True)
class Once(Generic[T]):
    """The result of `make()`'s flow, computed once per client under a lock.

    Concurrent callers wait for the first one; `refresh` computes it again.
    """

    key: str
    make: Callable[[], Flow[T]]
    refresh: bool = False

    def run_sync(self, runner: SyncRunner) -> T:
        with runner.lock(self.key):
            if self.refresh or self.key not in runner.memo:
                runner.memo[self.key] = runner.run(self.make())
            return cast(T, runner.memo[self.key])

    async def run_async(self, runner: AsyncRunner) -> T:
        async with runner.lock(self.key):
            if self.refresh or self.key not in runner.memo:
                runner.memo[self.key] = await runner.run(self.make())
            return cast(T, runner.memo[self.key])


@dataclass(frozen=True)
class _Relogin:
    """Run the client's login again, unless another flow already replaced the `refused` token."""

    login: Once[Any]
    refused: str | None

    def run_sync(self, runner: SyncRunner) -> None:
        with runner.lock(self.login.key):
            if runner.credentials.token == self.refused:
                log.info("the server refused the client's token (expired?); logging in again")
                runner.memo[self.login.key] = runner.run(self.login.make())

    async def run_async(self, runner: AsyncRunner) -> None:
        async with runner.lock(self.login.key):
            if runner.credentials.token == self.refused:
                log.info("the server refused the client's token (expired?); logging in again")
                runner.memo[self.login.key] = await runner.run(self.login.make())


@dataclass(frozen=True)
class Exclusive(Generic[T]):
    """Run a flow while holding this client's lock `key` (no other flow holds it meanwhile)."""

    key: str
    flow: Flow[T]

    def run_sync(self, runner: SyncRunner) -> T:
        with runner.lock(self.key):
            return runner.run(self.flow)

    async def run_async(self, runner: AsyncRunner) -> T:
        async with runner.lock(self.key):
            return await runner.run(self.flow)
