"""Resources written once, spoken both ways.

A resource class is generic over its runner. Each server operation is a method that
returns a flow, marked `@operation`: on a resource bound to a `SyncRunner` it is a
blocking method answering `T`, on one bound to an `AsyncRunner` a coroutine method
answering `T`, with the same parameters (mypy sees both through `ParamSpec`).

    class BoardRepository(Resource[Runner]):
        @operation
        def get_board(self, board_id: str) -> Flow[Board]:
            return (yield from call(Board, "GET", f"/api/v1/boards/{quote(board_id)}"))

    client.board_repo.get_board("x")            # InvokeAIClient: a Board
    await aclient.board_repo.get_board("x")     # AsyncInvokeAIClient: a Board
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from ._flow import AsyncRunner, Flow, Runner, SyncRunner

__all__ = ["Resource", "operation"]

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S", bound="Resource[Any]")


class Resource(Generic[Runner]):
    """Something of the server's, reached through one client's runner."""

    def __init__(self, runner: Runner) -> None:
        self._runner: Runner = runner


class operation(Generic[S, P, T]):
    """Turn a flow-returning method into a sync or async method by the runner it is bound to."""

    def __init__(self, flow: Callable[Concatenate[S, P], Flow[T]]) -> None:
        self.flow = flow
        functools.update_wrapper(self, flow)  # type: ignore[arg-type]

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> operation[S, P, T]: ...
    @overload
    def __get__(self, obj: Resource[SyncRunner], owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: Resource[AsyncRunner], owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        flow, run = self.flow, obj._runner.run

        @functools.wraps(flow)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return run(flow(obj, *args, **kwargs))

        return bound
