"""One run over three real local InvokeAI instances (pool-a, pool-b, pool-c), with failover.

The instances are this module's own (never the default server others use): started
together at first use, stopped at the end of the session. A row is one fused
base -> refine queue item (64x64, 2 steps), so "one completed item per prompt" is one
per prompt and stage.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from invokeai_py_client import APIConnectionError, InvokeAIClient, ValidationError
from invokeai_py_client.pipelines.pool import PoolResult, PoolRun, PoolServer, ServerPool
from invokeai_py_client.server import LocalServer
from invokeai_py_client.workflow.chain import chain_workflows
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflows import bundled_workflow_path

INSTANCES = ("pool-a", "pool-b", "pool-c")
VALUES = {"Base: Width": 64, "Base: Height": 64, "Base: Steps": 2, "Refine: Refinement steps": 2,
          "Refine: Strength": 0.5}


@pytest.fixture(scope="session")
def instances() -> Iterator[dict[str, LocalServer]]:
    """Three local instances of our own, started at once; stopped when the session ends."""
    servers = {name: LocalServer(instance=name) for name in INSTANCES}
    try:
        with concurrent.futures.ThreadPoolExecutor(len(servers)) as starting:
            list(starting.map(lambda s: s.up(), servers.values()))
        yield servers
    finally:
        for server in servers.values():
            server.down()


def members(instances: dict[str, LocalServer]) -> list[PoolServer]:
    for server in instances.values():
        server.up()  # running: answers at once; one a failed test left dead: started again
    urls = {name: server.url() for name, server in instances.items()}
    assert all(urls.values()), urls
    return [PoolServer(str(url), name=name) for name, url in urls.items()]


def fused() -> WorkflowDefinition:
    return chain_workflows(
        [WorkflowDefinition.from_file(bundled_workflow_path(f)) for f in ("sdxl_base.json", "sdxl_refiner.json")],
        names=("Base", "Refine"), keep_stages=True,
    )


def prompt_rows(tag: str, count: int = 12) -> list[dict[str, Any]]:
    return [{"Base: Positive prompt": f"{tag} {k}", "Refine: Prompt": f"{tag} {k}", "Base: Seed": 100 + k}
            for k in range(count)]


def completed_by_prompt(instances: dict[str, LocalServer], destination: str) -> Counter[tuple[str, str]]:
    """(server, prompt) of every completed item of `destination`, counted, on every instance."""
    counts: Counter[tuple[str, str]] = Counter()
    for name, server in instances.items():
        with InvokeAIClient(server.url(), use_events=False) as client:
            for item in client.queue_repo.items_by_destination(destination):
                assert item.status in ("completed", "canceled"), (name, item.item_id, item.status)
                if item.status == "completed":
                    ran = {v["field_name"]: v["value"] for v in item.field_values or []
                           if v["node_path"] == "base-positive_prompt"}
                    counts[(name, ran["value"])] += 1
    return counts


def download(pool: ServerPool, result: PoolResult, folder: Path) -> list[Path]:
    paths = []
    for name in result.image_names:
        path = folder / f"{result.index:02d}-{name}"
        pool.client(result.server).image_repo.download_to(name, path)
        paths.append(path)
    return paths


def download_all(pool: ServerPool, run: PoolRun, folder: Path) -> list[Path]:
    return [path for result in run.results for path in download(pool, result, folder)]


def assert_exactly_one_each(instances: dict[str, LocalServer], run: PoolRun, rows: list[dict[str, Any]]) -> None:
    counts = completed_by_prompt(instances, run.destination)
    per_prompt = Counter(prompt for (_, prompt) in counts.elements())
    assert per_prompt == Counter(row["Base: Positive prompt"] for row in rows)  # 0 duplicates, 0 lost
    for result in run.results:  # each image was made where the run says
        assert counts[(result.server, result.values["Base: Positive prompt"])] == 1


def test_a_fused_run_spreads_over_three_servers_one_item_per_prompt(
    instances: dict[str, LocalServer], tmp_path: Path
) -> None:
    rows = prompt_rows("spread")
    with ServerPool(members(instances), outage_deadline=10) as pool:
        run = pool.run_batch(fused(), rows, values=VALUES, by_base=True, timeout=600)
        assert [r.index for r in run.results] == list(range(12)) and not run.errors
        assert set(run.work_per_server()) == set(INSTANCES)
        paths = download_all(pool, run, tmp_path)
    assert len(paths) == 24  # base and refined of each prompt
    for path in paths:
        with Image.open(path) as image:
            assert image.size == (64, 64)
    assert_exactly_one_each(instances, run, rows)


def test_a_run_no_server_can_serve_fails_before_anything_is_enqueued(instances: dict[str, LocalServer]) -> None:
    destination = f"test-pool-refused-{os.getpid()}"
    with ServerPool(members(instances)) as pool, pytest.raises(ValidationError) as caught:
        pool.run_batch(fused(), prompt_rows("refused", 3), values={**VALUES, "Base: Model": "no-such-sdxl-model"},
                       destination=destination, by_base=True)
    assert "no server of the pool can run" in str(caught.value)
    problems = "\n".join(caught.value.problems)
    assert all(name in problems for name in INSTANCES) and "no-such-sdxl-model" in problems
    for server in instances.values():
        with InvokeAIClient(server.url(), use_events=False) as client:
            assert client.queue_repo.counts_by_destination(destination).total == 0


def test_a_server_killed_midway_the_run_finishes_on_the_others(
    instances: dict[str, LocalServer], tmp_path: Path
) -> None:
    rows = prompt_rows("failover")
    victim = "pool-c"
    pid = instances[victim].status().pid
    assert pid is not None
    finished: list[PoolResult] = []
    paths: list[Path] = []
    made_by_the_dead: list[PoolResult] = []

    def download_then_kill_after_two(result: PoolResult) -> None:
        try:
            paths.extend(download(pool, result, tmp_path))  # images are fetched as rows finish
        except APIConnectionError:
            # Made on the victim just before it died, reported just after: its images are in
            # the victim's database, fetched when it is back.
            assert result.server == victim and finished, result
            made_by_the_dead.append(result)
        finished.append(result)
        if len(finished) == 2:
            os.kill(pid, signal.SIGKILL)

    # The deadline leaves a live server on a loaded machine time to answer.
    with ServerPool(members(instances), outage_deadline=10, probe_interval=0.5) as pool:
        run = pool.run_batch(fused(), rows, values=VALUES, by_base=True, timeout=900,
                             on_result=download_then_kill_after_two)
        assert [r.index for r in run.results] == list(range(12)) and not run.errors
        assert any(r.attempts[0][0] == victim and r.server != victim for r in run.results)  # moved off it
        assert run.down == [victim]

        # It comes back: the run's items still queued there are canceled before they run.
        restart = threading.Thread(target=instances[victim].up)
        restart.start()
        canceled = pool.reconcile(run.destination, wait=300)
        restart.join()
        for result in made_by_the_dead:
            paths.extend(download(pool, result, tmp_path))
    assert len(paths) == 24 and all(p.stat().st_size > 0 for p in paths)
    assert canceled[victim] >= 1
    assert_exactly_one_each(instances, run, rows)


SECOND_CLIENT = """
import json, sys
from invokeai_py_client.pipelines.pool import PoolServer, ServerPool
from tests.integration.test_pool import VALUES, fused, prompt_rows
servers = [PoolServer(url, name=name) for name, url in json.loads(sys.argv[1]).items()]
with ServerPool(servers) as pool:
    run = pool.run_batch(fused(), prompt_rows("second"), values=VALUES, by_base=True, timeout=900)
print(json.dumps({"destination": run.destination, "work": run.work_per_server(), "rows": len(run.results)}))
"""


def test_two_clients_share_the_pool_at_once(instances: dict[str, LocalServer]) -> None:
    urls = {m.name: m.url for m in members(instances)}
    other = subprocess.Popen([sys.executable, "-c", SECOND_CLIENT, json.dumps(urls)], stdout=subprocess.PIPE,
                             text=True, cwd=Path(__file__).resolve().parents[2])
    rows = prompt_rows("first")
    try:
        with ServerPool(members(instances)) as pool:
            run = pool.run_batch(fused(), rows, values=VALUES, by_base=True, timeout=900)
        out, _ = other.communicate(timeout=900)
    finally:
        if other.poll() is None:
            other.kill()
    assert other.returncode == 0
    second = json.loads(out.strip().splitlines()[-1])
    assert len(run.results) == 12 and second["rows"] == 12
    assert len(run.work_per_server()) >= 2 and len(second["work"]) >= 2  # each spread its load
    assert_exactly_one_each(instances, run, rows)
    theirs = completed_by_prompt(instances, second["destination"])
    assert Counter(p for (_, p) in theirs.elements()) == Counter(r["Base: Positive prompt"] for r in prompt_rows("second"))


def test_a_pooled_run_resumes_by_its_destination(instances: dict[str, LocalServer]) -> None:
    rows = prompt_rows("resume", 6)
    destination = f"test-pool-resume-{os.getpid()}-{threading.get_ident()}"

    class ClientDied(Exception):
        pass

    def die_at_first_result(result: PoolResult) -> None:
        raise ClientDied(result.index)

    with ServerPool(members(instances)) as pool, pytest.raises(ClientDied):
        pool.run_batch(fused(), rows, values=VALUES, by_base=True, destination=destination,
                       on_result=die_at_first_result)
    with ServerPool(members(instances)) as pool:  # as a new process would
        run = pool.run_batch(fused(), rows, values=VALUES, by_base=True, destination=destination, timeout=600)
    assert run.resumed == 6  # every row was found on a server (finished or queued), none submitted again
    assert [r.index for r in run.results] == list(range(6))
    assert_exactly_one_each(instances, run, rows)


def test_refine_over_several_urls_and_its_resume(instances: dict[str, LocalServer], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from invokeai_py_client.cli.main import main

    urls = [m.url for m in members(instances)]
    argv = ["refine", "a red fox", "a blue whale", "a green frog", "--seed", "7", "--width", "64", "--height", "64",
            "--base-steps", "2", "--refine-steps", "2", "--refine-strength", "0.5", "--output-dir", str(tmp_path),
            "--json"]
    for url in urls:
        argv += ["--url", url]
    assert main(argv) == 0
    manifest = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    servers = set()
    for row in manifest["prompts"]:
        assert set(row["images"]) == {"base", "refined"}
        for image in row["images"].values():
            assert Path(image["path"]).is_file() and image["server"] in urls
            servers.add(image["server"])
    assert len(servers) >= 2  # three prompts spread
    assert main([*argv, "--resume"]) == 0  # finished: found on the servers, nothing enqueued again
    total = 0
    for server in instances.values():
        with InvokeAIClient(server.url(), use_events=False) as client:
            total += client.queue_repo.counts_by_destination(manifest["destination"]).total
    assert total == 3


def test_server_up_instances_starts_them_and_down_stops_them(capsys: pytest.CaptureFixture[str]) -> None:
    from invokeai_py_client.cli.main import main

    try:
        assert main(["server", "up", "--instances", "2"]) == 0
        urls = capsys.readouterr().out.split()
        assert len(urls) == 2 and len(set(urls)) == 2
        for url in urls:
            with InvokeAIClient(url, use_events=False) as client:
                assert client.server_version()
        assert [LocalServer(instance=f"pool-{k}").url() for k in (1, 2)] == urls
    finally:
        assert main(["server", "down", "--instances", "2"]) == 0
    assert [LocalServer(instance=f"pool-{k}").url() for k in (1, 2)] == [None, None]


def test_a_server_lacking_the_chains_models_gets_none_of_its_rows(instances: dict[str, LocalServer]) -> None:
    bare = LocalServer(instance="pool-bare")
    try:
        url = bare.up(install_models=False)  # an install of its own, without the tiny models
        with InvokeAIClient(url, use_events=False) as client:
            assert not [m for m in client.dnn_model_repo.list_models() if m.name == "tiny-sdxl"]
        servers = [*members(instances)[:1], PoolServer(url, name="bare")]
        rows = prompt_rows("bare", 3)
        with ServerPool(servers) as pool:
            run = pool.run_batch(fused(), rows, values=VALUES, timeout=600)
        assert run.work_per_server() == {"pool-a": 3}
        with InvokeAIClient(url, use_events=False) as client:
            assert client.queue_repo.counts_by_destination(run.destination).total == 0
    finally:
        bare.down()


def test_the_async_pool_runs_the_same_batch_while_the_loop_stays_free(instances: dict[str, LocalServer]) -> None:
    import asyncio

    from invokeai_py_client.pipelines.pool import AsyncServerPool

    rows = prompt_rows("async", 3)

    async def main() -> tuple[PoolRun, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        async with AsyncServerPool(members(instances)) as pool:
            assert await pool.least_loaded() in INSTANCES
            run = await pool.run_batch(fused(), rows, values=VALUES, by_base=True, timeout=600)
        ticker.cancel()
        return run, ticks

    run, ticks = asyncio.run(main())
    assert [r.index for r in run.results] == [0, 1, 2] and ticks > 10
    assert_exactly_one_each(instances, run, rows)


def test_a_server_restarted_within_the_outage_deadline_keeps_its_rows(instances: dict[str, LocalServer]) -> None:
    rows = prompt_rows("restart")
    victim = "pool-b"
    pid = instances[victim].status().pid
    assert pid is not None
    finished: list[PoolResult] = []
    restart = threading.Thread(target=instances[victim].up)

    def kill_and_restart_after_two(result: PoolResult) -> None:
        finished.append(result)
        if len(finished) == 2:
            os.kill(pid, signal.SIGKILL)
            restart.start()

    with ServerPool(members(instances), outage_deadline=600, probe_interval=0.5) as pool:
        run = pool.run_batch(fused(), rows, values=VALUES, by_base=True, timeout=900,
                             on_result=kill_and_restart_after_two)
    restart.join()
    assert [r.index for r in run.results] == list(range(12)) and not run.errors and not run.down
    # Its pending items ran there after the restart; the one it was running (canceled by
    # the restart) was placed again.
    assert any(r.server == victim for r in finished[2:])
    assert_exactly_one_each(instances, run, rows)
