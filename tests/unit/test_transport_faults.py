"""Fault paths of the client core, driven through an injected httpx transport.

Every test runs against both the sync and the async client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from invokeai_py_client import (
    AmbiguousSubmissionError,
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    AsyncInvokeAIClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvokeAIClient,
    InvokeAIError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from invokeai_py_client._flow import Flow
from invokeai_py_client.jobs import enqueue_flow

Handler = Callable[[httpx.Request], httpx.Response]


class Harness:
    """Builds a sync or async client over a handler and runs client calls to completion."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sleeps: list[float] = []

    def client(self, handler: Handler, url: str = "http://testserver", **kwargs: Any) -> Any:
        kwargs.setdefault("use_events", False)
        kind = InvokeAIClient if self.mode == "sync" else AsyncInvokeAIClient
        return kind(url, transport=httpx.MockTransport(handler), **kwargs)

    def call(self, client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(client, method)(*args, **kwargs)
        if self.mode == "async":
            return asyncio.run(result)
        return result

    def run_flow(self, client: Any, flow: Flow[Any]) -> Any:
        if self.mode == "async":
            return asyncio.run(client._runner.run(flow))
        return client._runner.run(flow)


@pytest.fixture(params=["sync", "async"])
def harness(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Harness:
    h = Harness(request.param)

    real_sleep, test_thread = time.sleep, threading.current_thread()

    def fake_sleep(seconds: float) -> None:
        if threading.current_thread() is not test_thread:
            real_sleep(seconds)  # a background thread of another test: not ours to count
            return
        h.sleeps.append(seconds)

    async def fake_async_sleep(seconds: float) -> None:
        h.sleeps.append(seconds)

    monkeypatch.setattr("time.sleep", fake_sleep)
    monkeypatch.setattr("asyncio.sleep", fake_async_sleep)
    return h


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
    ],
)
def test_each_status_maps_to_its_error(harness: Harness, status: int, error: type[Exception]) -> None:
    client = harness.client(lambda r: json_response(status, {"detail": "nope"}), max_retries=0)
    with pytest.raises(error) as info:
        harness.call(client, "request", "GET", "/boards/")
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert "nope" in str(info.value)


def test_422_keeps_structured_detail(harness: Harness) -> None:
    detail = [{"loc": ["body", "batch", "graph"], "msg": "field required", "type": "missing"}]
    client = harness.client(lambda r: json_response(422, {"detail": detail}))
    with pytest.raises(UnprocessableEntityError) as info:
        harness.call(client, "request", "POST", "/queue/default/enqueue_batch", json={})
    assert info.value.detail == detail


def test_html_answer_from_an_unknown_route_is_an_error(harness: Harness) -> None:
    client = harness.client(
        lambda r: httpx.Response(200, text="<html>app</html>", headers={"content-type": "text/html"})
    )
    with pytest.raises(APIResponseError, match="not JSON"):
        harness.call(client, "request", "GET", "/no/such/route")


def test_malformed_json_is_an_invokeai_error(harness: Harness) -> None:
    client = harness.client(
        lambda r: httpx.Response(200, content=b"{oops", headers={"content-type": "application/json"})
    )
    with pytest.raises(InvokeAIError, match="malformed"):
        harness.call(client, "request", "GET", "/boards/")


def test_get_is_retried_on_503_then_succeeds(harness: Harness) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) < 3:
            return json_response(503, {"detail": "busy"})
        return json_response(200, {"version": "6.14.2"})

    client = harness.client(handler, max_retries=2)
    assert harness.call(client, "server_version") == "6.14.2"
    assert calls == ["GET", "GET", "GET"]
    assert len(harness.sleeps) == 2


def test_retries_stop_at_max_retries(harness: Harness) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return json_response(502, {"detail": "bad gateway"})

    client = harness.client(handler, max_retries=3)
    with pytest.raises(InternalServerError):
        harness.call(client, "request", "GET", "/boards/")
    assert len(calls) == 4


def test_post_is_not_retried(harness: Harness) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return json_response(503, {"detail": "busy"})

    client = harness.client(handler, max_retries=3)
    with pytest.raises(InternalServerError):
        harness.call(client, "request", "POST", "/boards/", params={"board_name": "x"})
    assert calls == ["POST"]


def test_500_is_not_retried_even_for_get(harness: Harness) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return json_response(500, {"detail": "boom"})

    client = harness.client(handler, max_retries=3)
    with pytest.raises(InternalServerError):
        harness.call(client, "request", "GET", "/boards/")
    assert calls == ["GET"]


def test_retry_after_is_honoured(harness: Harness) -> None:
    answers = [json_response(429, {"detail": "slow down"}, {"Retry-After": "7"}), json_response(200, [])]
    client = harness.client(lambda r: answers.pop(0), max_retries=2)
    assert harness.call(client, "request", "GET", "/boards/") == []
    assert harness.sleeps == [7.0]


def test_connection_errors_are_retried_then_wrapped(harness: Harness) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    client = harness.client(handler, max_retries=2)
    with pytest.raises(APIConnectionError) as info:
        harness.call(client, "request", "GET", "/boards/")
    assert not isinstance(info.value, APITimeoutError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(calls) == 3


def test_timeouts_raise_api_timeout_error(harness: Harness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = harness.client(handler, max_retries=0)
    with pytest.raises(APITimeoutError):
        harness.call(client, "request", "GET", "/boards/")


def test_no_raw_httpx_exception_escapes(harness: Harness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("garbage", request=request)

    client = harness.client(handler, max_retries=0)
    with pytest.raises(InvokeAIError):
        harness.call(client, "request", "GET", "/boards/")


def test_reverse_proxy_sub_path_is_kept(harness: Harness) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return json_response(200, {"version": "6.14.2"})

    client = (InvokeAIClient if harness.mode == "sync" else AsyncInvokeAIClient)(
        "https://example.test/invoke/", transport=httpx.MockTransport(handler), use_events=False
    )
    harness.call(client, "server_version")
    harness.call(client, "request", "GET", "/api/v2/models/")
    harness.call(client, "request", "GET", "/boards/")
    assert seen == ["/invoke/api/v1/app/version", "/invoke/api/v2/models/", "/invoke/api/v1/boards/"]
    assert client._runner.hub.socketio_path == "invoke/ws/socket.io"


def test_token_is_sent_renewed_and_never_shown(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-token-value"
    renewed = "renewed-token-value"
    auth_headers: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        auth_headers.append(request.headers.get("authorization"))
        if request.method == "POST":
            return json_response(200, {"ok": True}, {"X-Refreshed-Token": renewed})
        return json_response(503, {"detail": "down"})

    caplog.set_level(logging.DEBUG)
    client = harness.client(handler, token=secret, max_retries=1)
    harness.call(client, "request", "POST", "/boards/", params={"board_name": "b"})
    with pytest.raises(InternalServerError) as info:
        harness.call(client, "request", "GET", "/boards/")
    assert auth_headers[0] == f"Bearer {secret}"
    assert auth_headers[1:] == [f"Bearer {renewed}"] * 2
    shown = repr(client) + str(info.value) + repr(info.value) + caplog.text + repr(client.credentials)
    assert secret not in shown and renewed not in shown


def test_login_keeps_the_token_out_of_the_answer(harness: Harness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/login"):
            assert json.loads(request.content)["email"] == "a@b.c"
            return json_response(200, {"token": "tok", "user": {"email": "a@b.c"}, "expires_in": 86400})
        assert request.headers["authorization"] == "Bearer tok"
        return json_response(200, {"version": "6.14.2"})

    client = harness.client(handler)
    answer = harness.call(client, "login", "a@b.c", "pw")
    assert "token" not in answer and answer["user"]["email"] == "a@b.c"
    assert harness.call(client, "server_version") == "6.14.2"


def test_health_check_reports_false_on_a_dead_server(harness: Harness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = harness.client(handler, max_retries=0)
    assert harness.call(client, "health_check") is False


# --- enqueue is never sent twice ------------------------------------------------------


class FakeQueue:
    """A queue server whose enqueue answer can be lost after the batch was stored."""

    def __init__(
        self, *, lose_answer: bool = False, refuse_first: bool = False, store: bool = True,
        down_after_loss: int = 0, restart_forgets: bool = False,
    ) -> None:
        self.lose_answer = lose_answer
        self.refuse_first = refuse_first
        self.store = store
        self.down_after_loss = down_after_loss
        """After a lost answer, refuse this many requests (a restart), then answer again."""
        self.restart_forgets = restart_forgets
        """The restart lost the batch whose answer was lost (and later answers are not lost)."""
        self.posts = 0
        self.lookups = 0
        self.down_for = 0
        self.batches: dict[str, dict[str, Any]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.down_for > 0:
            self.down_for -= 1
            if self.down_for == 0 and self.restart_forgets:  # back, without what it had not saved
                self.batches.clear()
                self.lose_answer = False
            raise httpx.ConnectError("refused: restarting", request=request)
        if path.endswith("/enqueue_batch"):
            self.posts += 1
            if self.refuse_first and self.posts == 1:
                raise httpx.ConnectError("refused", request=request)
            batch = json.loads(request.content)["batch"]
            if self.store:
                self.batches[batch["batch_id"]] = batch
            if self.lose_answer:
                self.down_for = self.down_after_loss  # it goes down
                raise httpx.ReadTimeout("answer lost", request=request)
            return json_response(
                200, {"queue_id": "default", "enqueued": 1, "requested": 1, "batch": batch, "item_ids": [7]}
            )
        if "/b/" in path and path.endswith("/status"):
            self.lookups += 1
            batch_id = path.split("/b/")[1].split("/")[0]
            total = 1 if batch_id in self.batches else 0
            dest = self.batches.get(batch_id, {}).get("destination")
            return json_response(200, {"queue_id": "default", "batch_id": batch_id, "destination": dest, "total": total})
        if path.endswith("/list_all"):
            dest = request.url.params["destination"]
            items = [
                {"item_id": 7, "batch_id": b["batch_id"], "status": "pending", "destination": dest}
                for b in self.batches.values()
                if b["destination"] == dest
            ]
            return json_response(200, items)
        return json_response(404, {"detail": "unexpected " + path})


BODY = {"batch": {"graph": {"id": "g", "nodes": {}, "edges": []}}}


def test_enqueue_is_tagged(harness: Harness) -> None:
    server = FakeQueue()
    client = harness.client(server)
    result = harness.run_flow(client, enqueue_flow("default", BODY))
    (batch,) = server.batches.values()
    assert batch["destination"].startswith("invokeai-py:")
    assert batch["origin"] == "invokeai-py-client"
    assert result.batch_id == batch["batch_id"] and result.item_ids == [7]


def test_lost_enqueue_answer_is_resolved_by_lookup_not_by_resending(harness: Harness) -> None:
    server = FakeQueue(lose_answer=True)
    client = harness.client(server, max_retries=3)
    result = harness.run_flow(client, enqueue_flow("default", BODY))
    assert server.posts == 1
    assert result.item_ids == [7] and result.batch_id in server.batches


def test_lost_enqueue_that_is_not_found_is_ambiguous_and_not_resent(harness: Harness) -> None:
    server = FakeQueue(lose_answer=True, store=False)
    client = harness.client(server, max_retries=3)
    with pytest.raises(AmbiguousSubmissionError) as info:
        harness.run_flow(client, enqueue_flow("default", BODY))
    assert server.posts == 1
    assert info.value.destination.startswith("invokeai-py:")


def test_refused_connection_is_resent_once(harness: Harness) -> None:
    server = FakeQueue(refuse_first=True)
    client = harness.client(server)
    result = harness.run_flow(client, enqueue_flow("default", BODY))
    assert server.posts == 2 and len(server.batches) == 1 and server.lookups == 0  # nothing was sent: no lookup
    assert result.item_ids == [7]


def test_a_lost_enqueue_answer_rides_out_a_restart_and_finds_the_batch(harness: Harness) -> None:
    server = FakeQueue(lose_answer=True, down_after_loss=4)
    client = harness.client(server, max_retries=0)
    result = harness.run_flow(client, enqueue_flow("default", BODY))
    assert server.posts == 1 and result.item_ids == [7] and result.batch_id in server.batches
    assert len(harness.sleeps) >= 3  # the lookup waited while the server was down


def test_a_restart_that_lost_the_batch_has_it_sent_again_once(harness: Harness) -> None:
    server = FakeQueue(lose_answer=True, down_after_loss=3, restart_forgets=True)
    client = harness.client(server, max_retries=0)
    result = harness.run_flow(client, enqueue_flow("default", BODY))
    assert server.posts == 2 and len(server.batches) == 1 and result.batch_id in server.batches
    assert result.item_ids == [7]


def test_a_server_down_past_the_outage_timeout_leaves_a_lost_enqueue_ambiguous(harness: Harness) -> None:
    server = FakeQueue(lose_answer=True, down_after_loss=10**9)
    client = harness.client(server, max_retries=0, outage_timeout=0.05)
    with pytest.raises(AmbiguousSubmissionError):
        harness.run_flow(client, enqueue_flow("default", BODY))
    assert server.posts == 1  # never sent twice


def test_enqueue_5xx_is_raised_without_resending(harness: Harness) -> None:
    posts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/enqueue_batch"):
            posts.append(1)
            return json_response(503, {"detail": "overloaded"})
        return json_response(200, {"batch_id": "x", "total": 0})

    client = harness.client(handler, max_retries=3)
    with pytest.raises(InternalServerError):
        harness.run_flow(client, enqueue_flow("default", BODY))
    assert len(posts) == 1


def test_invocation_catalog_falls_back_to_the_bundled_schema(harness: Harness) -> None:
    from invokeai_py_client.workflow.schema import InvocationCatalog

    client = harness.client(
        lambda r: httpx.Response(200, text="<html></html>", headers={"content-type": "text/html"})
    )
    catalog = harness.call(client, "invocation_catalog")
    assert catalog.node_types() == InvocationCatalog.bundled().node_types()
    assert harness.call(client, "invocation_catalog") is catalog  # fetched once per client


def test_image_bytes_are_not_kept_after_the_download(harness: Harness) -> None:
    # An httpx response read whole sits in a reference cycle with its stream: only the
    # garbage collector frees its body. Downloads must not leave bodies behind.
    import gc
    import tracemalloc

    body = bytes(range(256)) * 4096  # 1 MiB

    def chunks() -> Any:  # a new body per answer, in chunks, as from a socket
        for k in range(0, len(body), 65536):
            yield memoryview(body)[k : k + 65536].tobytes()

    async def async_chunks() -> Any:
        for chunk in chunks():
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        content = chunks() if harness.mode == "sync" else async_chunks()
        return httpx.Response(200, content=content, headers={"content-type": "image/png"})

    client = harness.client(handler)
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(8):
            assert harness.call(client.image_repo, "download_image", "a.png") == body
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.enable()
    assert kept < len(body), f"{kept / 2**20:.1f} MiB still held after 8 downloads of 1 MiB"
