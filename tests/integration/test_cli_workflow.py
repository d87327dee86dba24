"""`invokeai-py inputs` and `invokeai-py run` on a bundled workflow, against the real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from invokeai_py_client.cli.main import main
from invokeai_py_client.workflows import bundled_workflow_path

WORKFLOW = str(bundled_workflow_path("sdxl_base.json"))


def test_inputs_lists_the_form(server_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inputs", WORKFLOW, "--url", server_url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in rows][:3] == ["Positive prompt", "Negative prompt", "Seed"]
    seed = rows[2]
    assert (seed["index"], seed["path"], seed["type"], seed["constraints"]) == (2, "noise.seed", "integer", "0..4294967295")


def test_run_sets_by_label_and_index_sweeps_in_one_request_and_downloads(
    server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "run", WORKFLOW, "--url", server_url, "--set", "Positive prompt=a red barn", "--set", "5=64",
        "--set", "Height=64", "--set", "Steps=2", "--sweep", "Seed=1,2", "--output-dir", str(tmp_path), "--json",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "enqueued 2 queue item(s) in 1 request(s)" in captured.err
    saved = json.loads(captured.out.strip().splitlines()[-1])
    assert sorted(entry["values"]["noise.seed"] for entry in saved) == [1, 2]
    for entry in saved:
        with Image.open(entry["path"]) as image:
            assert image.size == (64, 64)


def test_run_names_a_bad_assignment(server_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", WORKFLOW, "--url", server_url, "--set", "Steps"]) == 1
    assert "--set 'Steps': write LABEL_OR_INDEX=VALUE" in capsys.readouterr().err
