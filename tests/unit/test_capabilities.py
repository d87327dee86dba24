"""The client learns what a server offers from its schema and picks its path per operation."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from invokeai_py_client import (
    AsyncInvokeAIClient,
    InvokeAIClient,
    JobLostError,
    UnsupportedByServerError,
)
from invokeai_py_client._capabilities import ServerSchema, bundled_document


class OldQueueServer:
    """An InvokeAI 5.15.x queue as far as submitting goes: no `item_ids` in the enqueue
    answer, no `list_all`, only the cursor-paged `GET /list`, no bulk item routes.

    `before` items of other batches are already on the queue (completed); a new batch's
    items are `pending` unless `started` says they already ran.
    """

    def __init__(self, *, before: int = 0, started: bool = False, openapi: bool = True, drop: str = "") -> None:
        self.items: list[dict[str, Any]] = [
            {"item_id": i, "status": "completed", "batch_id": f"other-{i}", "priority": 0} for i in range(1, before + 1)
        ]
        self.started = started
        self.openapi = openapi
        self.drop = drop  # a path the served schema leaves out
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append(f"{request.method} {path}")
        if path == "/api/v1/app/version":
            # a patch release the package has no snapshot of: its /openapi.json is read
            return httpx.Response(200, json={"version": "5.15.1", "highlights": None})
        if path == "/openapi.json":
            if not self.openapi:
                return httpx.Response(500, json={"detail": "no schema here"})
            document = dict(bundled_document("5.15.0"))
            document["paths"] = {k: v for k, v in document["paths"].items() if k != self.drop}
            return httpx.Response(200, json=document)
        if path.endswith("/enqueue_batch"):
            body = json.loads(request.content)
            runs = int(body["batch"].get("runs", 1))
            first = len(self.items) + 1
            for item_id in range(first, first + runs):
                self.items.append({
                    "item_id": item_id, "status": "completed" if self.started else "pending",
                    "batch_id": body["batch"]["batch_id"], "priority": 0,
                    "destination": body["batch"]["destination"],
                })
            return httpx.Response(200, json={
                "queue_id": "default", "enqueued": runs, "requested": runs, "batch": body["batch"], "priority": 0,
            })
        if path.endswith("/list"):
            return httpx.Response(200, json=self._page(request.url.params))
        if "/i/" in path:
            item_id = int(path.rsplit("/", 1)[-1])
            for item in self.items:
                if item["item_id"] == item_id:
                    answer = {**item, "session": {"results": {}}}
                    item["status"] = "completed"  # each item runs once it has been looked at
                    return httpx.Response(200, json=answer)
            # 5.15.0 lets SessionQueueItemNotFoundError escape: a bare 500.
            return httpx.Response(500, text="Internal Server Error")
        return httpx.Response(405, json={"detail": "Method Not Allowed"})

    def _page(self, params: httpx.QueryParams) -> dict[str, Any]:
        limit = int(params.get("limit", 50))
        rows = self.items
        if "cursor" in params:
            rows = [r for r in rows if r["item_id"] > int(params["cursor"])]
        elif "status" in params:
            rows = [r for r in rows if r["status"] == params["status"]]
        return {"limit": limit, "has_more": len(rows) > limit, "items": rows[:limit]}


def sync_client(server: OldQueueServer) -> InvokeAIClient:
    return InvokeAIClient("http://old", transport=httpx.MockTransport(server), use_events=False, max_retries=0)


BODY = {"batch": {"graph": {"id": "g", "nodes": {}, "edges": []}, "runs": 3}}


def test_item_ids_of_an_answer_without_them_come_from_the_batchs_pending_items() -> None:
    server = OldQueueServer(before=5)
    with sync_client(server) as client:
        batch = client.queue_repo.enqueue_batch(BODY)
        assert batch.item_ids == [6, 7, 8]
        items = batch.wait(timeout=5, raise_on_error=False)
    assert [i.item_id for i in items] == [6, 7, 8]
    listed = [r for r in server.requests if r.endswith("/list")]
    assert len(listed) == 1  # one page of pending items found all three
    assert not [r for r in server.requests if "by_ids" in r or "list_all" in r]


def test_an_item_deleted_from_a_5x_queue_is_lost_although_the_server_says_500() -> None:
    server = OldQueueServer(before=3)
    with sync_client(server) as client:
        batch = client.queue_repo.enqueue_batch({**BODY, "batch": {**BODY["batch"], "runs": 1}})
        server.items = [i for i in server.items if i["item_id"] != batch.item_ids[0]]  # cleared meanwhile
        with pytest.raises(JobLostError):
            batch.jobs[0].wait(timeout=5)


def test_items_that_already_ran_are_found_by_paging_the_whole_queue() -> None:
    server = OldQueueServer(before=2500, started=True)
    with sync_client(server) as client:
        batch = client.queue_repo.enqueue_batch(BODY)
    assert batch.item_ids == [2501, 2502, 2503]
    assert len([r for r in server.requests if r.endswith("/list")]) == 1 + 3  # pending page, then 3 pages of 1000


@pytest.mark.anyio
async def test_the_async_client_finds_them_the_same_way() -> None:
    server = OldQueueServer(before=1)
    async with AsyncInvokeAIClient("http://old", transport=httpx.MockTransport(server), use_events=False) as client:
        batch = await client.queue_repo.enqueue_batch(BODY)
    assert batch.item_ids == [2, 3, 4]


def test_listings_without_the_item_ids_route_page_through_the_queue() -> None:
    server = OldQueueServer(before=1200)
    with sync_client(server) as client:
        assert client.queue_repo.list_item_ids()[:3] == [1200, 1199, 1198]
        assert [i.item_id for i in client.queue_repo.list_items(offset=1, limit=2, order_dir="ASC")] == [2, 3]
    assert not [r for r in server.requests if r.endswith("/item_ids")]


def test_a_missing_feature_names_the_server_version_and_the_route() -> None:
    server = OldQueueServer(drop="/api/v1/queue/{queue_id}/list")
    with sync_client(server) as client, pytest.raises(UnsupportedByServerError) as info:
        client.queue_repo.list_item_ids()
    error = info.value
    assert error.server_version == "5.15.1"
    assert error.route == "GET /api/v1/queue/{queue_id}/item_ids"
    assert "InvokeAI 5.15.1" in str(error) and "GET /api/v1/queue/{queue_id}/item_ids" in str(error)
    assert not [r for r in server.requests if "/queue/" in r]  # refused before anything was sent


def test_an_unusable_schema_is_replaced_by_the_snapshot_of_the_servers_release() -> None:
    server = OldQueueServer(openapi=False)
    with sync_client(server) as client:
        assert client.queue_repo.enqueue_batch(BODY).item_ids == [1, 2, 3]
        schema = client._runner.run(_schema_flow())
    assert schema.source == "snapshot 5.15.0" and schema.version == "5.15.1"
    assert server.requests.count("GET /openapi.json") == 1  # fetched once per client


def _schema_flow() -> Any:
    from invokeai_py_client._capabilities import server_schema

    schema = yield server_schema()
    return schema


def test_has_and_require_read_routes_as_templates() -> None:
    schema = ServerSchema.from_openapi(
        {"paths": {"/api/v1/queue/{queue_id}/list": {"get": {}, "parameters": []}}}, version="5.15.0"
    )
    assert schema.has("get", "/api/v1/queue/{queue_id}/list")
    assert schema.routes == frozenset({"GET /api/v1/queue/{queue_id}/list"})
    schema.require("GET", "/api/v1/queue/{queue_id}/list", "listing")
    with pytest.raises(UnsupportedByServerError, match=r"listing needs POST /x, which InvokeAI 5\.15\.0"):
        schema.require("POST", "/x", "listing")


# -- 5.x shapes and routes: images and models ------------------------------------------------


class OldImageServer:
    """InvokeAI 5.15.0's image routes: no `/images/names`, no `images_by_names`, a single
    delete answering null, a bulk delete answering only `deleted_images`."""

    def __init__(self, count: int) -> None:
        self.images = [{"image_name": f"img-{i:04d}.png", "starred": i % 3 == 0} for i in range(count)]
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        self.requests.append(f"{request.method} {path}")
        if path == "/api/v1/app/version":
            return httpx.Response(200, json={"version": "5.15.1"})
        if path == "/openapi.json":
            return httpx.Response(200, json=dict(bundled_document("5.15.0")))
        if path == "/api/v1/images/" and request.method == "GET":
            offset, limit = int(params["offset"]), int(params["limit"])
            page = self.images[offset : offset + limit]
            return httpx.Response(200, json={"items": page, "offset": offset, "limit": limit, "total": len(self.images)})
        if path.startswith("/api/v1/images/i/"):
            name = path.rsplit("/", 1)[-1]
            found = [i for i in self.images if i["image_name"] == name]
            if request.method == "DELETE":
                self.images = [i for i in self.images if i["image_name"] != name]
                return httpx.Response(200, content=b"null", headers={"content-type": "application/json"})
            return httpx.Response(200, json=found[0]) if found else httpx.Response(404, json={"detail": "nope"})
        if path == "/api/v1/images/delete":
            names = json.loads(request.content)["image_names"]
            self.images = [i for i in self.images if i["image_name"] not in names]
            return httpx.Response(200, json={"deleted_images": names})
        if path in ("/api/v1/images/star", "/api/v1/board_images/batch"):
            names = json.loads(request.content)["image_names"]
            key = "updated_image_names" if path.endswith("star") else "added_image_names"
            return httpx.Response(200, json={key: names} if path.endswith("star") else {"board_id": "b", key: names})
        if path == "/api/v2/models/stats":
            return httpx.Response(200, json={"hits": 1, "misses": 0, "high_watermark": 5, "in_cache": 1,
                                             "cleared": 0, "cache_size": 0, "loaded_model_sizes": {}})
        return httpx.Response(404, json={"detail": "Not Found"})


def test_image_names_page_through_the_records_where_the_names_route_is_missing() -> None:
    server = OldImageServer(2100)
    with InvokeAIClient("http://old", transport=httpx.MockTransport(server), use_events=False) as client:
        names = client.image_repo.list_image_names()
        assert names.image_names == [i["image_name"] for i in server.images]
        assert (names.total_count, names.starred_count) == (2100, 700)
        got = client.image_repo.get_images_by_names(["img-0001.png", "no-such.png", "img-0002.png"])
        assert [d.image_name for d in got] == ["img-0001.png", "img-0002.png"]
    assert server.requests.count("GET /api/v1/images/") == 3  # pages of 1000
    assert not [r for r in server.requests if r.endswith(("/names", "/images_by_names"))]


def test_5x_delete_answers_parse() -> None:
    server = OldImageServer(3)
    with InvokeAIClient("http://old", transport=httpx.MockTransport(server), use_events=False) as client:
        one = client.image_repo.delete_image("img-0000.png")  # 5.x answers null: a lookup confirms
        assert (one.deleted_images, one.failed_images) == (["img-0000.png"], [])
        both = client.image_repo.delete_images(["img-0001.png", "img-0002.png"])
        assert both.deleted_images == ["img-0001.png", "img-0002.png"] and both.affected_boards == []


def test_old_cache_stats_read_their_unreported_size_as_none_and_by_hash_is_unsupported() -> None:
    with InvokeAIClient("http://old", transport=httpx.MockTransport(OldImageServer(0)), use_events=False) as client:
        stats = client.dnn_model_repo.get_cache_stats()
        assert stats is not None and stats.cache_size is None and stats.high_watermark == 5
        with pytest.raises(UnsupportedByServerError, match=r"GET /api/v2/models/get_by_hash.*InvokeAI 5\.15\.1"):
            client.dnn_model_repo.get_model_by_hash("blake3:abc")


def test_5x_star_and_board_answers_name_what_changed() -> None:
    with InvokeAIClient("http://old", transport=httpx.MockTransport(OldImageServer(2)), use_events=False) as client:
        assert client.image_repo.star_images(["img-0000.png"]) == ["img-0000.png"]
        assert client.image_repo.add_images_to_board("b", ["img-0001.png"]) == ["img-0001.png"]


class ReleaseServer:
    """A server of a release the package has a snapshot of; it counts what it is asked."""

    def __init__(self, version: str = "6.14.2") -> None:
        self.version = version
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if request.url.path == "/api/v1/app/version":
            return httpx.Response(200, json={"version": self.version})
        if request.url.path == "/openapi.json":
            document = json.loads(json.dumps(bundled_document(self.version)))
            node_pack = json.loads(json.dumps(document["components"]["schemas"]["ImageBlurInvocation"]))
            node_pack["properties"]["type"]["default"] = "my_pack_blur"
            document["components"]["schemas"]["MyPackBlurInvocation"] = node_pack
            return httpx.Response(200, json=document)
        return httpx.Response(404, json={"detail": "Not Found"})


def test_a_known_release_is_not_asked_for_its_schema_until_a_workflow_needs_a_node_pack() -> None:
    from invokeai_py_client.workflow import WorkflowBuilder, WorkflowDefinition

    server = ReleaseServer()
    with InvokeAIClient("http://host", transport=httpx.MockTransport(server), use_events=False) as client:
        builder = WorkflowBuilder("blur")
        builder.add_node("img_blur", "blur", radius=2.0, image={"image_name": "x.png"})
        wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_dict(builder.build()))
        assert server.requests == ["GET /api/v1/app/version"]  # the shipped 6.14.2 snapshot is its schema
        assert wf._catalog.input_spec("img_blur", "radius") is not None
        packed = builder.build()
        packed["nodes"][0]["data"]["type"] = "my_pack_blur"  # as the editor exports a node pack's node
        wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_dict(packed))
        assert server.requests.count("GET /openapi.json") == 1  # a node pack's type: the live schema
        assert wf._catalog.input_spec("my_pack_blur", "radius") is not None
        client.workflow_repo.create_workflow(WorkflowDefinition.from_dict(packed))
        assert server.requests.count("GET /openapi.json") == 1  # once per client


def test_logging_in_to_a_server_without_user_accounts_is_unsupported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/app/version":
            return httpx.Response(200, json={"version": "6.0.2"})
        return httpx.Response(404, json={"detail": "Not Found"})

    with pytest.raises(UnsupportedByServerError, match=r"POST /api/v1/auth/login, which InvokeAI 6\.0\.2") as info:
        InvokeAIClient("http://old", email="me@example.com", password="pw", transport=httpx.MockTransport(handler))
    assert info.value.server_version == "6.0.2" and "pw" not in str(info.value)
