"""The multi-stage pipeline and the `invokeai-py refine` command on the real server."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from PIL import Image

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.cli.main import main
from invokeai_py_client.pipelines import MultiStageRefiner, StageBoards
from tests.graphs import unique


def size_of(client: InvokeAIClient, name: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(client.image_repo.download_image(name))) as img:
        return img.size


def test_full_pipeline_base_refine_upscale_into_named_boards(server_url: str) -> None:
    boards = StageBoards(base=unique("ipc-test-base"), refined=unique("ipc-test-refined"), upscaled=unique("ipc-test-upscaled"))
    with InvokeAIClient.from_url(server_url) as client:
        refiner = MultiStageRefiner(client, boards=boards)
        results = refiner.full_pipeline(
            "a castle", seed=7, base_steps=3, refiner_steps=3, upscale=True, upscale_factor=2,
            width=64, height=64,
        )
        assert results["errors"] == {}
        assert size_of(client, results["base"]) == (64, 64)
        assert size_of(client, results["refined"]) == (64, 64)
        assert size_of(client, results["upscaled"]) == (128, 128)
        for stage, board_name in (("base", boards.base), ("refined", boards.refined), ("upscaled", boards.upscaled)):
            board = client.board_repo.get_board_handle(board_name)
            assert results[stage] in board.list_image_names(limit=100)
            # The seed's download path: by board name, full resolution, without listing the board.
            assert board.download_image(results[stage], full_resolution=True)[:8] == b"\x89PNG\r\n\x1a\n"
        for board_name in (boards.base, boards.refined, boards.upscaled):
            client.board_repo.delete_board(client.board_repo.resolve_board_id(board_name), delete_images=True)


def test_stage_methods_are_safe_from_several_threads(server_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with InvokeAIClient.from_url(server_url) as client:
        refiner = MultiStageRefiner(client, boards=StageBoards(base=unique("ipc-test-threads")))
        with ThreadPoolExecutor(max_workers=3) as pool:
            items = list(pool.map(
                lambda seed: refiner.generate_base("x", seed=seed, steps=2, width=64, height=64)[1], [1, 2, 3]
            ))
        assert [i.session["graph"]["nodes"]["noise"]["seed"] for i in items] == [1, 2, 3]
        client.board_repo.delete_board(client.board_repo.resolve_board_id(unique("ipc-test-threads")), delete_images=True)


def test_refine_command_writes_the_stage_images(server_url: str, tmp_path: Path, capsys: object) -> None:
    code = main([
        "refine", "a lighthouse", "--url", server_url, "--seed", "3", "--width", "64", "--height", "64",
        "--base-steps", "2", "--refine-steps", "2", "--upscale", "--no-fused", "--output-dir", str(tmp_path),
    ])
    assert code == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (row,) = manifest["prompts"]
    assert set(row["images"]) == {"base", "refined", "upscaled"} and len(row["item_ids"]) == 3
    with Image.open(Path(row["folder"]) / "upscaled.png") as img:
        assert img.size == (128, 128)


def test_refine_command_fuses_three_prompts_into_one_request(server_url: str, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("prompt,seed,negative\na castle,11,blurry\na forest,12,\n", encoding="utf-8")
    code = main([
        "refine", "a lighthouse", "--prompts-file", str(prompts), "--server", server_url, "--seed", "5",
        "--width", "64", "--height", "64", "--base-steps", "2", "--refine-steps", "2", "--upscale",
        "--output-dir", str(tmp_path / "out"),
    ])
    assert code == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rows = manifest["prompts"]
    assert [(r["prompt"], r["seed"], r["negative"]) for r in rows] == [
        ("a lighthouse", 5, ""), ("a castle", 11, "blurry"), ("a forest", 12, ""),
    ]
    with InvokeAIClient.from_url(server_url, use_events=False) as client:
        items = [client.queue_repo.get_item(r["item_ids"][0]) for r in rows]
    assert len({i.batch_id for i in items}) == 1  # one enqueue_batch request, one item per prompt
    for row in rows:
        sizes = {}
        for stem in ("base", "refined", "upscaled"):
            with Image.open(Path(row["folder"]) / f"{stem}.png") as img:
                sizes[stem] = img.size
        assert sizes == {"base": (64, 64), "refined": (64, 64), "upscaled": (128, 128)}




def test_a_killed_refine_run_resumes_without_submitting_anything_twice(server_url: str, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "invokeai_py_client.cli.main", "refine", *(f"prompt {k}" for k in range(6)),
        "--url", server_url, "--seed", "100", "--width", "64", "--height", "64", "--base-steps", "2",
        "--refine-steps", "2", "--upscale", "--output-dir", str(out),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest_path = out / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # killed as soon as its items are on the queue
        if manifest_path.exists():
            rows = json.loads(manifest_path.read_text())["prompts"]
            if all(row["item_ids"] for row in rows):
                break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    manifest = json.loads(manifest_path.read_text())
    assert not all(len(row["images"]) == 3 for row in manifest["prompts"]), "it finished before it was killed"

    assert main([*command[3:], "--resume"]) == 0
    manifest = json.loads(manifest_path.read_text())
    with InvokeAIClient.from_url(server_url, use_events=False) as client:
        items = client.queue_repo.items_by_destination(manifest["destination"])
    assert len(items) == 6 and {i.status for i in items} == {"completed"}  # one per prompt: none twice
    for row in manifest["prompts"]:
        assert len(row["item_ids"]) == 1
        for stem in ("base", "refined", "upscaled"):
            assert (Path(row["folder"]) / f"{stem}.png").stat().st_size > 0


def test_refine_command_progressive_passes_score_each_image(server_url: str, tmp_path: Path) -> None:
    code = main([
        "refine", "a lighthouse", "--url", server_url, "--seed", "4", "--width", "64", "--height", "64",
        "--base-steps", "2", "--refine-steps", "2", "--progressive", "2", "--quality-threshold", "0.99",
        "--output-dir", str(tmp_path),
    ])
    assert code == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["stages"] == ["base", "refined", "progressive"] and manifest["fused"] is False
    (row,) = manifest["prompts"]
    assert set(row["scores"]) == {"refined", "progressive"}
    assert all(0.0 <= score <= 1.0 for score in row["scores"].values())
    assert row["images"]["progressive"]["image_name"] != row["images"]["refined"]["image_name"]  # 0.99: passes ran
    assert (Path(row["folder"]) / "progressive.png").stat().st_size > 0
    assert "scores" in (tmp_path / "index.html").read_text()


def test_the_refine_progress_shows_the_queue_counts(server_url: str) -> None:
    from rich.console import Console
    from rich.progress import Progress, TextColumn

    from invokeai_py_client.cli.refine import _show_queue

    progress = Progress(TextColumn("{task.fields[node]}"), console=Console(file=io.StringIO()))
    task = progress.add_task("prompts", total=3, node="")
    with InvokeAIClient.from_url(server_url) as client:
        _show_queue(client, progress)
    shown = progress.tasks[task].fields["node"]
    assert re.fullmatch(r"queue: \d+ running, \d+ waiting", shown), shown
