"""Operations written once, run by a sync or an async driver.

An operation is a generator that yields steps and receives each step's result (or
has the step's `InvokeAIError` thrown into it); its return value is the operation's
result. Steps are `Call` (one HTTP request, answered decoded), `Pause` (sleep), or a
`CustomStep` (anything else that needs I/O, such as streaming a download to a file
or waiting for the next socket event). `run_sync` and `run_async` only execute steps,
so the sync and async clients differ in nothing but `await`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import httpx

from ._exceptions import InvokeAIError

if TYPE_CHECKING:
    from .client import AsyncInvokeAIClient, InvokeAIClient

__all__ = ["Call", "CustomStep", "Flow", "Pause", "backoff", "run_async", "run_sync", "single"]

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One HTTP request as an operation asks for it."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    files: Any = None
    data: Any = None
    retry: bool | None = None
    expect: Literal["json", "bytes", "none"] = "json"
    timeout: float | None = None


@dataclass(frozen=True)
class Pause:
    """Sleep this many seconds, then continue."""

    seconds: float


class CustomStep(Protocol):
    """A step with its own sync and async way of running (e.g. a streamed download)."""

    def run_sync(self, client: InvokeAIClient) -> Any: ...

    def run_async(self, client: AsyncInvokeAIClient) -> Awaitable[Any]: ...


Step = Call | Pause | CustomStep
Flow = Generator[Step, Any, T]


def single(call: Call) -> Flow[Any]:
    """An operation of exactly one call, answering that call's decoded result."""
    return (yield call)


def backoff(first: float = 0.05, cap: float = 1.0, factor: float = 1.6) -> Iterator[float]:
    """Poll intervals: `first`, growing by `factor` up to `cap`, forever."""
    delay = first
    while True:
        yield delay
        delay = min(delay * factor, cap)


def _kwargs(call: Call) -> dict[str, Any]:
    return {
        "params": call.params,
        "json": call.json,
        "files": call.files,
        "data": call.data,
        "retry": call.retry,
        "expect_json": call.expect == "json",
        "timeout": call.timeout,
    }


def _decode(call: Call, response: httpx.Response) -> Any:
    if call.expect == "bytes":
        return response.content
    if call.expect == "none" or response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise InvokeAIError(f"{call.method} {call.path}: the server's JSON is malformed ({exc})") from exc


def run_sync(client: InvokeAIClient, flow: Flow[T]) -> T:
    """Run an operation with blocking I/O."""
    answer: Any = None
    error: InvokeAIError | None = None
    try:
        while True:
            step = flow.throw(error) if error is not None else flow.send(answer)
            answer, error = None, None
            try:
                if isinstance(step, Call):
                    answer = _decode(step, client._transport.send(step.method, step.path, **_kwargs(step)))
                elif isinstance(step, Pause):
                    time.sleep(max(step.seconds, 0.0))
                else:
                    answer = step.run_sync(client)
            except InvokeAIError as exc:
                error = exc
    except StopIteration as done:
        result: T = done.value
        return result


async def run_async(client: AsyncInvokeAIClient, flow: Flow[T]) -> T:
    """Run an operation with non-blocking I/O."""
    answer: Any = None
    error: InvokeAIError | None = None
    try:
        while True:
            step = flow.throw(error) if error is not None else flow.send(answer)
            answer, error = None, None
            try:
                if isinstance(step, Call):
                    response = await client._transport.send(step.method, step.path, **_kwargs(step))
                    answer = _decode(step, response)
                elif isinstance(step, Pause):
                    await asyncio.sleep(max(step.seconds, 0.0))
                else:
                    answer = await step.run_async(client)
            except InvokeAIError as exc:
                error = exc
    except StopIteration as done:
        result: T = done.value
        return result
