"""`invokeai-py refine --no-fused` on the scheduler: gated passes and resuming a killed run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.cli import refine_staged
from invokeai_py_client.cli.main import main


def items_of(server_url: str, destination: str) -> list[Any]:
    with InvokeAIClient.from_url(server_url, use_events=False) as client:
        return client.queue_repo.items_by_destination(destination)


def test_progressive_passes_of_several_prompts_follow_the_gate(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prompt k's images score low until k passes have run: the gate lets prompt k through k
    # times. The prompt is read from the graph InvokeAI embeds in the PNG (a hash of the bytes
    # varied from run to run: the PNG embeds ids).
    scored: Counter[int] = Counter()

    def score(png: bytes) -> float:
        found = re.search(rb"gated (\d)", png)
        assert found is not None, "the PNG does not embed its prompt"
        k = int(found.group(1))
        scored[k] += 1
        return 0.9 if scored[k] > k else 0.1

    monkeypatch.setattr(refine_staged, "sharpness", score)
    code = main([
        "refine", *(f"gated {k}" for k in range(4)), "--url", server_url, "--seed", "20", "--width", "64",
        "--height", "64", "--base-steps", "2", "--refine-steps", "2", "--progressive", "3",
        "--quality-threshold", "0.5", "--look-ahead", "1", "--output-dir", str(tmp_path),
    ])
    assert code == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    passes = []
    for index, row in enumerate(manifest["prompts"]):
        names = list(row["runs"])
        gated = [n for n in names if n == "refined" or n.startswith("progressive-")]
        assert names[:2] == ["base", "refined"]
        assert gated == ["refined"] + [f"progressive-{k}" for k in range(1, len(gated))]
        *let_through, last = (row["runs"][n]["score"] for n in gated)
        assert all(s < 0.5 for s in let_through)  # each pass the gate asked for ...
        assert last >= 0.5 or len(gated) - 1 == 3  # ... and its stop
        assert row["images"]["progressive"]["image_name"] == row["runs"][gated[-1]]["image_name"]
        for name in names:  # one queue item per prompt and stage run, found by its destination
            (item,) = items_of(server_url, row["runs"][name]["destination"])
            assert item.status == "completed" and item.item_id == row["runs"][name]["item_id"]
            assert row["runs"][name]["destination"] == f"{manifest['destination']}:{index}:{name}"
        assert (Path(row["folder"]) / "progressive.png").stat().st_size > 0
        passes.append(len(gated) - 1)
    assert passes == [0, 1, 2, 3]  # as the gate decided for each prompt


def test_a_killed_staged_run_resumes_without_submitting_anything_twice(server_url: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "invokeai_py_client.cli.main", "refine", *(f"staged {k}" for k in range(6)),
        "--url", server_url, "--seed", "300", "--width", "64", "--height", "64", "--base-steps", "2",
        "--refine-steps", "2", "--upscale", "--no-fused", "--output-dir", str(out),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest_path = out / "manifest.json"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # killed midway: some refinements queued, some prompts not started
        if manifest_path.exists():
            with_runs = [row["runs"] for row in json.loads(manifest_path.read_text())["prompts"]]
            if any("refined" in runs for runs in with_runs):
                break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    manifest = json.loads(manifest_path.read_text())
    assert not all(len(row["images"]) == 3 for row in manifest["prompts"]), "it finished before it was killed"

    assert main([*command[3:], "--resume"]) == 0
    manifest = json.loads(manifest_path.read_text())
    assert manifest["fused"] is False
    for index, row in enumerate(manifest["prompts"]):
        assert list(row["runs"]) == ["base", "refined", "upscaled"]
        for stage in ("base", "refined", "upscaled"):
            (item,) = items_of(server_url, f"{manifest['destination']}:{index}:{stage}")  # none twice
            assert item.status == "completed" and row["runs"][stage]["item_id"] == item.item_id
        assert len(row["item_ids"]) == 3
        for stem in ("base", "refined", "upscaled"):
            assert (Path(row["folder"]) / f"{stem}.png").stat().st_size > 0
