"""A client that logged in with email and password logs in again when its token expires.

Driven through an injected transport standing in for a multi-user server whose token
expires: one 401, then a login, then the same request again, and never a third try.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from invokeai_py_client import AsyncInvokeAIClient, AuthenticationError, InvokeAIClient


class ExpiringServer:
    """Tokens t1, t2, ...; each one is refused after `uses` authenticated requests."""

    def __init__(self, uses: int = 1, password: str = "pw") -> None:
        self.uses, self.password = uses, password
        self.logins = 0
        self.seen: list[tuple[str, str | None]] = []
        self._left: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization")
        self.seen.append((request.url.path, auth))
        if request.url.path == "/api/v1/auth/login":
            if json.loads(request.content)["password"] != self.password:
                return httpx.Response(401, json={"detail": "Incorrect email or password"})
            self.logins += 1
            token = f"t{self.logins}"
            self._left[token] = self.uses
            return httpx.Response(200, json={"token": token, "user": {"email": "a@b.c"}})
        token = (auth or "").removeprefix("Bearer ")
        if self._left.get(token, 0) <= 0:
            return httpx.Response(401, json={"detail": "Invalid or expired token"})
        self._left[token] -= 1
        return httpx.Response(200, json=[])


def run(mode: str, server: ExpiringServer, calls: int, **kwargs: Any) -> list[Any]:
    transport: Any
    if mode == "sync":
        transport = httpx.MockTransport(server)
        with InvokeAIClient("http://testserver", transport=transport, use_events=False, **kwargs) as client:
            return [client.board_repo.list_boards() for _ in range(calls)]

    async def main() -> list[Any]:
        client = AsyncInvokeAIClient("http://testserver", transport=httpx.MockTransport(server), use_events=False, **kwargs)
        async with client:
            return [await client.board_repo.list_boards() for _ in range(calls)]

    return asyncio.run(main())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_expired_token_is_replaced_by_logging_in_again(mode: str) -> None:
    server = ExpiringServer(uses=1)
    assert run(mode, server, 3, email="a@b.c", password="pw") == [[], [], []]
    assert server.logins == 3  # the first login, then one per expiry
    refused = [auth for path, auth in server.seen if path != "/api/v1/auth/login"]
    assert refused == ["Bearer t1", "Bearer t1", "Bearer t2", "Bearer t2", "Bearer t3"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_token_only_client_gets_the_401(mode: str) -> None:
    server = ExpiringServer(uses=0)
    with pytest.raises(AuthenticationError) as info:
        run(mode, server, 1, token="t0")
    assert info.value.status_code == 401
    assert server.logins == 0 and len(server.seen) == 1  # nothing resent


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_login_that_fails_again_is_the_error(mode: str) -> None:
    server = ExpiringServer(uses=1)

    def change_password_after_first_login(request: httpx.Request) -> httpx.Response:
        if server.logins == 1:
            server.password = "changed"
        return server(request)

    wrapped: Any = change_password_after_first_login
    with pytest.raises(AuthenticationError) as info:
        run(mode, wrapped, 2, email="a@b.c", password="pw")
    assert "Incorrect email or password" in str(info.value)
