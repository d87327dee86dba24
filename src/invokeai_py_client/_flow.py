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
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

import httpx
import pydantic

from ._exceptions import APIResponseError, InvokeAIError
from ._socket import AsyncEventHub, SyncEventHub
from ._transport import (
    IDEMPOTENT_METHODS,
    RETRY_STATUSES,
    ClientOptions,
    Credentials,
    backoff_seconds,
    build_request,
    check_response,
    note_refreshed_token,
    retry_after_seconds,
    safe_url,
    wrap_transport_error,
)

__all__ = [
    "AsyncRunner",
    "Call",
    "CustomStep",
    "Exclusive",
    "Flow",
    "Once",
    "Pause",
    "Runner",
    "SyncRunner",
    "backoff",
    "call",
    "exchange",
]

log = logging.getLogger("invokeai_py_client")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request; its answer is validated into `into` (raw JSON when None).

    `retry=None` retries idempotent methods only. `expect="bytes"` answers the body,
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
    expect: Literal["json", "bytes", "none"] = "json"
    timeout: float | None = None
    stream: bool = False


@dataclass(frozen=True)
class Pause:
    """Sleep this many seconds, then continue."""

    seconds: float


@dataclass(frozen=True)
class Send:
    """The primitive behind a `Call`: send it once, answer the raw response."""

    call: Call[Any]


class CustomStep(Protocol[T_co]):
    """A step with its own sync and async way of running; it sees only the runner."""

    def run_sync(self, runner: SyncRunner) -> T_co: ...

    def run_async(self, runner: AsyncRunner) -> Awaitable[T_co]: ...


Step = Call[Any] | Pause | CustomStep[Any]
Flow = Generator[Step, Any, T]
"""An operation: yields steps, returns its result."""

_Primitive = Send | Pause | CustomStep[Any]


def call(
    into: type[T],
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    files: Any = None,
    data: Any = None,
    retry: bool | None = None,
    timeout: float | None = None,
) -> Flow[T]:
    """One request whose JSON answer is validated into `into` (a model, `list[Model]`, `dict`...)."""
    answer: T = yield Call(
        method, path, into, params=params, json=json, files=files, data=data, retry=retry, timeout=timeout
    )
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
    if call.stream:
        return response
    if call.expect == "bytes":
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


def exchange(call: Call[T], options: ClientOptions) -> Generator[_Primitive, Any, T]:
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


def _expanded(flow: Flow[T], options: ClientOptions) -> Generator[_Primitive, Any, T]:
    """`flow` with every `Call` expanded into `exchange`: only primitive steps remain.

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
                if isinstance(step, Call):
                    answer = yield from exchange(step, options)
                else:
                    answer = yield step
            except InvokeAIError as exc:
                error = exc
    finally:
        flow.close()


# --- the drivers ----------------------------------------------------------------------


@dataclass
class _RunnerBase:
    options: ClientOptions
    credentials: Credentials
    use_events: bool = True
    memo: dict[str, Any] = field(default_factory=dict)
    """Results of `Once` steps, per client."""
    prelude: Callable[[], Flow[Any]] | None = None
    """A flow to run once before the first flow (the async client's deferred login)."""


class SyncRunner(_RunnerBase):
    """Runs flows with blocking I/O: one `httpx.Client` and the client's event socket."""

    def __init__(
        self,
        options: ClientOptions,
        credentials: Credentials,
        *,
        transport: httpx.BaseTransport | None = None,
        use_events: bool = True,
    ) -> None:
        super().__init__(options, credentials, use_events)
        self.http = httpx.Client(
            timeout=options.timeout, verify=options.verify, transport=transport, follow_redirects=True
        )
        self.hub = SyncEventHub(options, credentials)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def run(self, flow: Flow[T]) -> T:
        """Run a flow to its result."""
        if self.prelude is not None:
            with self.lock("prelude"):
                prelude, self.prelude = self.prelude, None
                if prelude is not None:
                    try:
                        self.run(prelude())
                    except BaseException:
                        self.prelude = prelude
                        raise
        steps = _expanded(flow, self.options)
        answer: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    step = steps.throw(error) if error is not None else steps.send(answer)
                except StopIteration as done:
                    return cast(T, done.value)
                answer, error = None, None
                try:
                    if isinstance(step, Send):
                        answer = self._send(step.call)
                    elif isinstance(step, Pause):
                        time.sleep(max(step.seconds, 0.0))
                    else:
                        answer = step.run_sync(self)
                except (httpx.HTTPError, InvokeAIError) as exc:
                    error = exc
        finally:
            steps.close()

    def _send(self, call: Call[Any]) -> httpx.Response:
        request = build_request(
            self.http, self.options, self.credentials, call.method, call.path, params=call.params,
            json=call.json, files=call.files, data=call.data, timeout=call.timeout,
        )
        response = self.http.send(request, stream=call.stream)
        note_refreshed_token(self.credentials, response)
        if call.stream and (response.status_code >= 400 or response.status_code in RETRY_STATUSES):
            try:
                response.read()
            finally:
                response.close()
        return response

    def lock(self, name: str) -> threading.Lock:
        """This client's lock called `name` (e.g. around get-or-create of a board)."""
        with self._locks_lock:
            return self._locks.setdefault(name, threading.Lock())

    def close(self) -> None:
        self.hub.close()
        self.http.close()


class AsyncRunner(_RunnerBase):
    """Runs flows with non-blocking I/O: one `httpx.AsyncClient` and the event socket."""

    def __init__(
        self,
        options: ClientOptions,
        credentials: Credentials,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        use_events: bool = True,
    ) -> None:
        super().__init__(options, credentials, use_events)
        self.http = httpx.AsyncClient(
            timeout=options.timeout, verify=options.verify, transport=transport, follow_redirects=True
        )
        self.hub = AsyncEventHub(options, credentials)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self, flow: Flow[T]) -> T:
        """Run a flow to its result."""
        if self.prelude is not None:
            async with self.lock("prelude"):
                prelude, self.prelude = self.prelude, None
                if prelude is not None:
                    try:
                        await self.run(prelude())
                    except BaseException:
                        self.prelude = prelude
                        raise
        steps = _expanded(flow, self.options)
        answer: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    step = steps.throw(error) if error is not None else steps.send(answer)
                except StopIteration as done:
                    return cast(T, done.value)
                answer, error = None, None
                try:
                    if isinstance(step, Send):
                        answer = await self._send(step.call)
                    elif isinstance(step, Pause):
                        await asyncio.sleep(max(step.seconds, 0.0))
                    else:
                        answer = await step.run_async(self)
                except (httpx.HTTPError, InvokeAIError) as exc:
                    error = exc
        finally:
            steps.close()

    async def _send(self, call: Call[Any]) -> httpx.Response:
        request = build_request(
            self.http, self.options, self.credentials, call.method, call.path, params=call.params,
            json=call.json, files=call.files, data=call.data, timeout=call.timeout,
        )
        response = await self.http.send(request, stream=call.stream)
        note_refreshed_token(self.credentials, response)
        if call.stream and (response.status_code >= 400 or response.status_code in RETRY_STATUSES):
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    def lock(self, name: str) -> asyncio.Lock:
        """This client's lock called `name` (made on first use, in the running loop)."""
        return self._locks.setdefault(name, asyncio.Lock())

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
