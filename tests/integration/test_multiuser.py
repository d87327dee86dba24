"""Authentication against a real InvokeAI 6.14.2 started in multi-user mode.

The module starts its own instance ("multiuser-test", own root, port and database),
creates the administrator through `POST /api/v1/auth/setup` and a second, non-admin
user through the admin-only `POST /api/v1/auth/users`, and deletes the instance at
the end. What the server does, which these tests pin down:

- without a bearer token every API route but a few public ones (version, auth
  status, login) answers 401; admin-only routes answer 403 to other users;
- each successful POST/PUT/PATCH/DELETE made with a bearer token answers with a
  renewed token in `X-Refreshed-Token` (GETs, failed requests and login do not);
  the token's `exp` has one-second resolution, so a renewal minted in the same
  second as the token it replaces is the same string;
- the Socket.IO handshake is refused without `auth={"token": ...}`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from invokeai_py_client import (
    AsyncInvokeAIClient,
    AuthenticationError,
    InvokeAIClient,
    NotFoundError,
    PermissionDeniedError,
)
from invokeai_py_client.server import LocalServer, LocalServerError
from invokeai_py_client.server._common import port_is_free
from invokeai_py_client.server.local import is_invokeai_web
from tests import multiuser_server
from tests.graphs import blank_image_body, slow_body

INSTANCE = multiuser_server.INSTANCE


@dataclass(frozen=True)
class Account:
    email: str
    password: str


ADMIN = Account("admin@example.com", "Admin-pass-4821")
USER = Account("user@example.com", "User-pass-9137")


@dataclass(frozen=True)
class MultiUserServer:
    url: str
    admin: Account
    user: Account


@pytest.fixture(scope="module")
def multiuser() -> Iterator[MultiUserServer]:
    server = multiuser_server.server()
    try:
        url = multiuser_server.url()  # started beside the main server (see tests/conftest.py)
    except LocalServerError as exc:
        pytest.fail(f"could not start the multi-user InvokeAI instance:\n{exc}", pytrace=False)
    try:
        status = httpx.get(f"{url}/api/v1/auth/status", timeout=10).json()
        assert status["multiuser_enabled"] is True and status["setup_required"] is True
        setup = httpx.post(
            f"{url}/api/v1/auth/setup",
            json={"email": ADMIN.email, "password": ADMIN.password, "display_name": "Admin"},
            timeout=10,
        )
        assert setup.status_code == 200, setup.text
        with logged_in(url, ADMIN, use_events=False) as admin:
            admin.request(
                "POST",
                "/auth/users",
                json={"email": USER.email, "password": USER.password, "display_name": "User"},
            )
        yield MultiUserServer(url, ADMIN, USER)
    finally:
        server.down()
        shutil.rmtree(server.paths.instance_dir, ignore_errors=True)


def logged_in(url: str, account: Account, **kwargs: Any) -> InvokeAIClient:
    return InvokeAIClient(url, email=account.email, password=account.password, **kwargs)


def token_expiry(token: str) -> int:
    """The `exp` claim of a JWT (read without verifying it)."""
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


# --- 401 without a token --------------------------------------------------------------


def test_calls_without_a_token_are_refused_with_401(multiuser: MultiUserServer) -> None:
    with InvokeAIClient(multiuser.url, use_events=False) as client:
        assert client.server_version() == "6.14.2"  # public route
        with pytest.raises(AuthenticationError) as info:
            client.queue_repo.enqueue_batch(blank_image_body())
        assert info.value.status_code == 401
        with pytest.raises(AuthenticationError):
            client.board_repo.list_boards()


def test_a_wrong_password_is_a_401_that_does_not_echo_the_password(
    multiuser: MultiUserServer,
) -> None:
    wrong = "Wrong-pass-5550"
    with InvokeAIClient(multiuser.url, use_events=False) as client:
        with pytest.raises(AuthenticationError) as info:
            client.login(multiuser.admin.email, wrong)
        assert client.credentials.token is None
    assert wrong not in str(info.value) and wrong not in repr(info.value)


def test_a_forged_token_is_refused_with_401(multiuser: MultiUserServer) -> None:
    with logged_in(multiuser.url, multiuser.admin) as good:
        token = good.credentials.token
        assert token is not None
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    with (
        InvokeAIClient(multiuser.url, token=forged, use_events=False) as client,
        pytest.raises(AuthenticationError),
    ):
        client.board_repo.list_boards()


# --- login, a real job over the authenticated socket ----------------------------------


def test_login_at_construction_runs_a_job_followed_over_the_socket(
    multiuser: MultiUserServer,
) -> None:
    with logged_in(multiuser.url, multiuser.admin) as client:
        assert client.credentials.token
        assert client.server_version() == "6.14.2"
        item = client.queue_repo.enqueue_batch(blank_image_body(red=11))[0].wait(timeout=60)
        assert item.status == "completed"
        # The server refuses anonymous sockets in multi-user mode: a connected socket
        # proves the token went into the handshake.
        assert client._runner.hub.connected


def test_a_socket_without_the_token_is_refused(multiuser: MultiUserServer) -> None:
    with logged_in(multiuser.url, multiuser.admin) as client:
        token = client.credentials.token
        client.credentials.set(None)
        assert client._runner.hub.connect(timeout=5) is False
        client.credentials.set(token)


def test_token_given_to_the_constructor_works(multiuser: MultiUserServer) -> None:
    with logged_in(multiuser.url, multiuser.admin) as first:
        token = first.credentials.token
    with InvokeAIClient(multiuser.url, token=token) as client:
        assert isinstance(client.board_repo.list_boards(), list)
        assert (
            client.queue_repo.enqueue_batch(blank_image_body(red=12))[0].wait(timeout=60).status
            == "completed"
        )
        assert client._runner.hub.connected


def test_a_non_admin_runs_jobs_too(multiuser: MultiUserServer) -> None:
    with logged_in(multiuser.url, multiuser.user) as client:
        assert (
            client.queue_repo.enqueue_batch(blank_image_body(red=13))[0].wait(timeout=60).status
            == "completed"
        )
        assert client._runner.hub.connected


# --- token renewal ---------------------------------------------------------------------


def test_mutations_renew_the_token_and_gets_do_not(multiuser: MultiUserServer) -> None:
    with logged_in(multiuser.url, multiuser.admin, use_events=False) as client:
        login_token = client.credentials.token
        assert login_token is not None
        # Tokens minted within the same second are identical; let the clock move on.
        time.sleep(1.1)
        client.board_repo.list_boards()
        assert client.credentials.token == login_token  # GET: no renewal

        board = client.board_repo.create_board("multiuser-renewal")  # POST
        renewed = client.credentials.token
        assert renewed is not None and renewed != login_token
        assert token_expiry(renewed) > token_expiry(login_token)

        time.sleep(1.1)
        with pytest.raises(NotFoundError):
            client.board_repo.delete_board("no-such-board-multiuser")  # failed DELETE
        assert client.credentials.token == renewed

        client.board_repo.delete_board(board.board_id)  # DELETE
        assert client.credentials.token not in (renewed, login_token)
        assert client.board_repo.list_boards() is not None  # the renewed token is accepted

    # Renewal does not revoke: the login token stays valid until it expires.
    with InvokeAIClient(multiuser.url, token=login_token, use_events=False) as old:
        assert isinstance(old.board_repo.list_boards(), list)


# --- the token stays secret ------------------------------------------------------------


def test_token_and_password_never_show_in_repr_logs_or_errors(
    multiuser: MultiUserServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "invokeai_py_client"):  # the CLI's main(), run earlier, quiets httpx
        caplog.set_level(logging.DEBUG, logger=name)
    secrets: list[str] = [multiuser.admin.password]
    with logged_in(multiuser.url, multiuser.admin) as client:
        secrets.append(str(client.credentials.token))
        time.sleep(1.1)
        job = client.queue_repo.enqueue_batch(blank_image_body(red=14))[0]
        job.wait(timeout=60)
        secrets.append(str(client.credentials.token))  # the renewed one
        with pytest.raises(NotFoundError) as info:
            client.request("GET", "/images/i/no-such-image-multiuser.png")
        texts = [
            repr(client),
            repr(client.credentials),
            str(info.value),
            repr(info.value),
            repr(job),
        ]
    assert len(set(secrets)) == 3
    # httpcore's own DEBUG trace prints raw response headers (Set-Cookie at login,
    # X-Refreshed-Token after mutations): the client's filter blanks them.
    records = caplog.records
    assert any(r.name == "httpx" for r in records)
    assert any(r.name.startswith("httpcore") and "x-refreshed-token" in r.getMessage() for r in records)
    assert any(r.name.startswith("invokeai_py_client") for r in records)
    texts += [r.getMessage() for r in records]
    for secret in secrets:
        for text in texts:
            assert secret not in text


# --- admin-only routes -----------------------------------------------------------------


def test_a_non_admin_gets_403_for_admin_routes(multiuser: MultiUserServer) -> None:
    with logged_in(multiuser.url, multiuser.user, use_events=False) as client:
        with pytest.raises(PermissionDeniedError) as info:
            client.dnn_model_repo.install_model("/nonexistent/model.safetensors")
        assert info.value.status_code == 403
        assert info.value.detail == "Admin privileges required"
        with pytest.raises(PermissionDeniedError):
            client.request("GET", "/auth/users")
    with logged_in(multiuser.url, multiuser.admin, use_events=False) as admin:
        users = admin.request("GET", "/auth/users")
        assert {u["email"] for u in users} >= {multiuser.admin.email, multiuser.user.email}


# --- async -----------------------------------------------------------------------------


def test_async_login_and_job_over_the_async_socket(multiuser: MultiUserServer) -> None:
    async def main() -> tuple[Any, bool, str | None, str | None]:
        async with AsyncInvokeAIClient(multiuser.url) as client:
            with pytest.raises(AuthenticationError):
                await client.board_repo.list_boards()
            user = await client.login(multiuser.admin.email, multiuser.admin.password)
            assert "token" not in user and user["user"]["email"] == multiuser.admin.email
            token = client.credentials.token
            await asyncio.sleep(1.1)
            batch = await client.queue_repo.enqueue_batch(blank_image_body(red=15))
            item = await batch[0].wait(timeout=60)
            return item, client._runner.hub.connected, token, client.credentials.token

    item, connected, login_token, after = asyncio.run(main())
    assert item.status == "completed"
    assert connected
    assert after is not None and after != login_token  # the enqueue POST renewed it


# --- revocation ------------------------------------------------------------------------


def test_after_a_password_change_the_client_keeps_working_and_its_socket_reconnects(
    multiuser: MultiUserServer,
) -> None:
    account = Account("changer@example.com", "Changer-pass-1111")
    new_password = "Changer-pass-2222"
    with logged_in(multiuser.url, multiuser.admin, use_events=False) as admin:
        admin.request(
            "POST", "/auth/users", json={"email": account.email, "password": account.password}
        )
    with logged_in(multiuser.url, account) as client:
        old_token = client.credentials.token
        assert (
            client.queue_repo.enqueue_batch(blank_image_body(red=16))[0].wait(timeout=60).status
            == "completed"
        )
        assert client._runner.hub.connected
        # A password change bumps the account's revocation epoch: every earlier token
        # dies, the server drops the account's sockets, and the response carries a
        # replacement token in X-Refreshed-Token.
        client.request(
            "PATCH",
            "/auth/me",
            json={"current_password": account.password, "new_password": new_password},
        )
        assert client.credentials.token != old_token
        with (
            InvokeAIClient(multiuser.url, token=old_token, use_events=False) as stale,
            pytest.raises(AuthenticationError),
        ):
            stale.board_repo.list_boards()
        assert isinstance(client.board_repo.list_boards(), list)
        deadline = time.monotonic() + 15
        while client._runner.hub.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not client._runner.hub.connected, "the server did not drop the revoked socket"
        # The next job opens a new socket with the replacement token and follows it there.
        assert (
            client.queue_repo.enqueue_batch(blank_image_body(red=17))[0].wait(timeout=60).status
            == "completed"
        )
        assert client._runner.hub.connected


# --- token expiry ----------------------------------------------------------------------


def short_lived(token: str, seconds: float) -> str:
    """`token`'s claims expiring in `seconds`, signed as the server signs (HS256 with the
    secret in its own database): a token that expires while a test watches."""
    database = multiuser_server.server().paths.root / "databases" / "invokeai.db"
    with contextlib.closing(sqlite3.connect(database)) as db:
        (secret,) = db.execute("SELECT value FROM app_settings WHERE key = 'jwt_secret'").fetchone()

    def encode(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header, payload, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] = int(time.time() + seconds)
    signed = f"{header}.{encode(json.dumps(claims).encode())}"
    return f"{signed}.{encode(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest())}"


def expire(client: InvokeAIClient) -> str:
    """Give `client` a token that expires in a second, and let it expire; answers it."""
    token = client.credentials.token
    assert token is not None
    short = short_lived(token, 1)
    client.credentials.set(short)
    time.sleep(max(0.0, token_expiry(short) - time.time()) + 0.2)
    return short


def test_the_minted_short_token_is_accepted_then_refused(multiuser: MultiUserServer) -> None:
    """The test's own tool: the server takes its tokens, and refuses them once expired."""
    with logged_in(multiuser.url, multiuser.admin, use_events=False) as client:
        token = short_lived(str(client.credentials.token), 3)
    with InvokeAIClient(multiuser.url, token=token, use_events=False) as fresh:
        assert isinstance(fresh.board_repo.list_boards(), list)
        time.sleep(max(0.0, token_expiry(token) - time.time()) + 0.2)
        with pytest.raises(AuthenticationError):
            fresh.board_repo.list_boards()


def test_a_token_expiring_while_only_the_socket_carries_traffic_is_renewed_by_logging_in_again(
    multiuser: MultiUserServer,
) -> None:
    with logged_in(multiuser.url, multiuser.admin) as client:
        assert client._runner.hub.connect()
        jobs = [client.queue_repo.enqueue_batch(slow_body(2400 + i))[0] for i in range(3)]
        short = expire(client)  # while the jobs run and the socket brings their events
        items = [job.wait(timeout=120) for job in jobs]
        renewed = client.credentials.token
    assert [i.status for i in items] == ["completed"] * 3
    assert renewed is not None and renewed != short
    assert token_expiry(renewed) > time.time() + 3600  # a fresh login's token


def test_a_token_only_client_gets_a_clear_authentication_error_after_expiry(
    multiuser: MultiUserServer,
) -> None:
    # Any POST made while a token is valid renews it (the tracker's polls are POSTs), so a
    # token that expires during a wait may be renewed first: this client's has expired already.
    with logged_in(multiuser.url, multiuser.admin, use_events=False) as admin:
        token = str(admin.credentials.token)
        item_id = admin.queue_repo.enqueue_batch(slow_body(2400))[0].item_id
        with InvokeAIClient(multiuser.url, token=short_lived(token, -1)) as client:
            with pytest.raises(AuthenticationError) as info:
                client.queue_repo.attach_job(item_id).wait(timeout=120)  # no password to log in again with
            assert not client._runner.hub.connected  # the socket refused the expired token too
        admin.queue_repo.attach_job(item_id).wait(timeout=120)
    assert info.value.status_code == 401


def test_a_get_only_client_after_expiry(multiuser: MultiUserServer) -> None:
    with logged_in(multiuser.url, multiuser.user, use_events=False) as client:
        short = expire(client)
        assert isinstance(client.board_repo.list_boards(), list)  # logged in again, then read
        assert client.credentials.token != short
    with InvokeAIClient(multiuser.url, token=short, use_events=False) as reader:
        with pytest.raises(AuthenticationError) as info:
            reader.board_repo.list_boards()
        assert info.value.status_code == 401


# --- last: up again, then down (it stops this module's server) --------------------------


def test_up_again_is_one_process_and_down_frees_the_port(multiuser: MultiUserServer) -> None:
    server = LocalServer(instance=INSTANCE, multiuser=True)
    state = server.status()
    assert state.running and state.pid is not None and is_invokeai_web(state.pid)
    assert server.up() == multiuser.url
    assert server.status().pid == state.pid
    port = int(multiuser.url.rsplit(":", 1)[1])
    assert not port_is_free(port)

    assert server.down() is True
    assert server.url() is None
    assert not is_invokeai_web(state.pid)
    deadline = time.monotonic() + 10
    while not port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert port_is_free(port)
    assert server.down() is False
