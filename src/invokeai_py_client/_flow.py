"""Resource operations written once, run by a sync or an async driver.

An operation is a generator that yields `Call`s and receives each call's decoded
answer (or has the call's exception thrown into it); its return value is the
operation's result. `run_sync` and `run_async` only execute calls, so the sync and
async clients differ in nothing but `await`.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx

from ._exceptions import InvokeAIError
from ._transport import AsyncTransport, SyncTransport

__all__ = ["Call", "Flow", "run_async", "run_sync", "single"]

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


Flow = Generator[Call, Any, T]


def single(call: Call) -> Flow[Any]:
    """An operation of exactly one call, answering that call's decoded result."""
    return (yield call)


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


def run_sync(transport: SyncTransport, flow: Flow[T]) -> T:
    """Run an operation with blocking I/O."""
    try:
        call = next(flow)
        while True:
            try:
                answer = _decode(call, transport.send(call.method, call.path, **_kwargs(call)))
            except InvokeAIError as exc:
                call = flow.throw(exc)
            else:
                call = flow.send(answer)
    except StopIteration as done:
        result: T = done.value
        return result


async def run_async(transport: AsyncTransport, flow: Flow[T]) -> T:
    """Run an operation with non-blocking I/O."""
    try:
        call = next(flow)
        while True:
            try:
                response = await transport.send(call.method, call.path, **_kwargs(call))
                answer = _decode(call, response)
            except InvokeAIError as exc:
                call = flow.throw(exc)
            else:
                call = flow.send(answer)
    except StopIteration as done:
        result: T = done.value
        return result
