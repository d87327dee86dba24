"""The seed's snippets in docs/examples run as written against the local server.

The only change is the server address: the snippets say http://localhost:9090; the
test server listens elsewhere, so that one string is replaced before running. The
workflow files they load are the bundled ones with 64x64 defaults instead of
1024x1024 (the snippets stay as written; a CPU server renders 1024x1024 for minutes).
"""

from __future__ import annotations

import io
import json
import runpy
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from invokeai_py_client.workflows import BUNDLED_WORKFLOWS, bundled_workflow_path

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def tiny_copy(source: Path, dest: Path, size: int = 64) -> None:
    """Copy a workflow file with every width/height input defaulting to `size`."""
    workflow = json.loads(source.read_text())
    for node in workflow["nodes"]:
        for name, field in node.get("data", {}).get("inputs", {}).items():
            if name in ("width", "height") and isinstance(field.get("value"), int):
                field["value"] = size
    dest.write_text(json.dumps(workflow))


def run_example(name: str, server_url: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    data = workdir / "data" / "workflows"
    data.mkdir(parents=True)
    for filename in BUNDLED_WORKFLOWS:
        tiny_copy(bundled_workflow_path(filename), data / filename)
    source = (EXAMPLES / name).read_text().replace("http://localhost:9090", server_url)
    script = workdir / name
    script.write_text(source)
    monkeypatch.chdir(workdir)
    out = io.StringIO()
    with redirect_stdout(out):
        runpy.run_path(str(script), run_name="__main__")
    return out.getvalue()


def test_inspect_input_indices(server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    printed = run_example("inspect_inputs.py", server_url, tmp_path, monkeypatch).splitlines()
    assert printed[0].startswith("[00] ") and "StringField" in printed[0]
    assert printed[2].startswith("[02] ") and "IntegerField" in printed[2]  # the seed
    assert printed[7].startswith("[07] ") and "BoardField" in printed[7]


def test_quick_start(server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    printed = run_example("quick_start.py", server_url, tmp_path, monkeypatch)
    assert "Final status: completed" in printed
    assert "images=['" in printed
