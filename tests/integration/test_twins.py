"""The sync and async clients behave the same: one scenario list, run through both, compared.

Also: jobs are futures (`concurrent.futures.as_completed`, `asyncio.as_completed`), and
a sync handle's "last job" follows the caller's thread or coroutine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from invokeai_py_client import (
    AsyncInvokeAIClient,
    InvokeAIClient,
    Job,
    NotFoundError,
    ValidationError,
)
from invokeai_py_client.workflow import WorkflowDefinition
from invokeai_py_client.workflow.builder import WorkflowBuilder
from tests.graphs import blank_image_body

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005000201e2ab4d6d0000000049454e44ae426082"
)


def blank_workflow() -> WorkflowDefinition:
    b = WorkflowBuilder("twin blank")
    node = b.add_node("blank_image", "blank", width=64, height=64, is_intermediate=False, use_cache=False)
    b.expose(node, "width", label="Width")
    b.expose(node, "color", label="Color")
    return WorkflowDefinition.from_dict(b.build())


Step = Callable[[Any, dict[str, Any]], Any]


def scenario(tag: str) -> list[tuple[str, Step]]:
    """(name, call) pairs; each call returns an awaitable on the async client.

    `state` carries values between steps (the same keys on both clients).
    """
    board_name = f"twin-{tag}-{uuid.uuid4().hex[:6]}"

    def kept(key: str, call: Step) -> Step:
        def step(client: Any, state: dict[str, Any]) -> Any:
            return call(client, state), key

        return step

    return [
        ("server version", lambda c, s: c.server_version()),
        ("health", lambda c, s: c.health_check()),
        ("create board", kept("board", lambda c, s: c.board_repo.create_board(board_name))),
        ("board by name", lambda c, s: c.board_repo.resolve_board_id(board_name)),
        ("get or create (exists)", lambda c, s: c.board_repo.get_or_create_board(board_name)),
        ("upload", kept("dto", lambda c, s: c.image_repo.upload_image(PNG, board_id=s["board"].board_id))),
        ("download", lambda c, s: c.image_repo.download_image(s["dto"].image_name)),
        ("record", lambda c, s: c.image_repo.get_image(s["dto"].image_name)),
        ("missing image", lambda c, s: c.image_repo.get_image("no-such-image.png")),
        ("hostile name", lambda c, s: c.image_repo.delete_image("..")),
        ("models", lambda c, s: c.dnn_model_repo.list_models(type="main")),
        ("queue status", lambda c, s: c.queue_repo.get_status()),
        ("job", kept("batch", lambda c, s: c.queue_repo.enqueue_batch(blank_image_body(red=7)))),
        ("job result", lambda c, s: s["batch"][0].wait(timeout=120)),
        ("delete board", lambda c, s: c.board_repo.delete_board(s["board"].board_id, delete_images=True)),
    ]


def normalize(name: str, value: Any) -> Any:
    """What must be equal between the twins (ids and names differ per run)."""
    if isinstance(value, Exception):
        return type(value).__name__
    if name in ("create board", "get or create (exists)"):
        return (value.board_name.split("-")[0], value.image_count)
    if name == "board by name":
        return isinstance(value, str) and len(value) > 0
    if name in ("upload", "record"):
        return (value.width, value.height, value.image_category, value.board_id is not None)
    if name == "models":
        return sorted(m.name for m in value)
    if name == "queue status":
        return sorted(value.to_dict())
    if name == "job":
        return type(value).__name__
    if name == "download":
        return value[:8]
    if name == "job result":
        return (value.status, sorted(value.session["results"]) != [])
    if name == "delete board":
        return (len(value.deleted_images), len(value.deleted_board_images))
    return value


def run_sync(url: str) -> list[Any]:
    out: list[Any] = []
    state: dict[str, Any] = {}
    with InvokeAIClient(url) as client:
        for name, step in scenario("sync"):
            try:
                value = step(client, state)
                if isinstance(value, tuple):
                    value, key = value
                    state[key] = value
            except Exception as exc:  # noqa: BLE001 - the error kind is compared
                value = exc
            out.append((name, normalize(name, value)))
    return out


def run_async(url: str) -> list[Any]:
    async def main() -> list[Any]:
        out: list[Any] = []
        state: dict[str, Any] = {}
        async with AsyncInvokeAIClient(url) as client:
            for name, step in scenario("async"):
                try:
                    value = step(client, state)
                    key = None
                    if isinstance(value, tuple):
                        value, key = value
                    assert inspect.isawaitable(value), f"{name}: the async client answered without a coroutine"
                    value = await value
                    if key is not None:
                        state[key] = value
                except Exception as exc:  # noqa: BLE001 - the error kind is compared
                    value = exc
                out.append((name, normalize(name, value)))
        return out

    return asyncio.run(main())


def test_sync_and_async_clients_give_the_same_answers(server_url: str) -> None:
    sync = run_sync(server_url)
    async_ = run_async(server_url)
    assert sync == async_
    outcomes = dict(sync)
    assert outcomes["missing image"] == NotFoundError.__name__
    assert outcomes["hostile name"] == ValidationError.__name__
    assert outcomes["download"] == PNG[:8]
    assert outcomes["job result"] == ("completed", True)


def test_both_clients_take_the_same_constructor_arguments() -> None:
    sync = inspect.signature(InvokeAIClient.__init__).parameters
    async_ = inspect.signature(AsyncInvokeAIClient.__init__).parameters
    assert list(sync) == list(async_)
    assert {n: p.default for n, p in sync.items()} == {n: p.default for n, p in async_.items()}


def test_as_completed_yields_every_real_job(server_url: str) -> None:
    with InvokeAIClient(server_url) as client:
        jobs = [client.queue_repo.enqueue_batch(blank_image_body(red=r))[0] for r in (11, 12, 13)]
        assert all(isinstance(j, concurrent.futures.Future) for j in jobs)
        finished = list(concurrent.futures.as_completed(jobs, timeout=180))
        assert sorted(j.item_id for j in finished) == sorted(j.item_id for j in jobs)
        assert all(j.result().status == "completed" for j in finished)


def test_async_jobs_work_with_asyncio_wait_and_as_completed(server_url: str) -> None:
    async def main() -> list[str]:
        async with AsyncInvokeAIClient(server_url) as client:
            jobs = [(await client.queue_repo.enqueue_batch(blank_image_body(red=r)))[0] for r in (21, 22, 23)]
            done, pending = await asyncio.wait([asyncio.ensure_future(j) for j in jobs[:2]], timeout=180)
            assert not pending and len(done) == 2
            return [(await item).status for item in asyncio.as_completed(jobs, timeout=180)]

    assert asyncio.run(main()) == ["completed"] * 3


def test_sync_handle_remembers_the_last_job_of_the_calling_coroutine(server_url: str) -> None:
    with InvokeAIClient(server_url) as client:
        wf = client.workflow_repo.create_workflow(blank_workflow())

        async def main() -> str:
            job = await wf.submit()
            item = await wf.wait_for_completion(timeout=120)
            assert isinstance(job, Job) and item.item_id == job.item_id
            return item.status

        assert asyncio.run(main()) == "completed"
        # A thread that submitted nothing has no last job, whatever others did.
        with pytest.raises(Exception, match="nothing was submitted"):
            concurrent.futures.ThreadPoolExecutor(1).submit(wf.wait_for_completion_sync).result()
