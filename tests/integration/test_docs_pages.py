"""The documentation's pages run, block by block, against the local server (see tests/docs_pages.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import InvokeAIClient
from tests.docs_pages import blocks, run_page


def test_the_multi_stage_refine_page_has_the_seeds_nine_blocks() -> None:
    assert len(blocks("multi-stage-refine.md")) == 9


def test_multi_stage_refine_page(server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ns, printed = run_page("multi-stage-refine.md", server_url, tmp_path, monkeypatch, args=["a castle", "--upscale"])
    lines = printed.splitlines()
    # inspect input indices: the base workflow's Form, depth-first
    assert lines[0].startswith("[00] Positive prompt :: StringField")
    assert lines[2] == "[02] Seed :: IntegerField" and lines[7] == "[07] Output board :: BoardField"
    assert "Final status: completed" in lines
    with InvokeAIClient(server_url) as client:
        def on_board(name: Any, board: str) -> bool:
            assert isinstance(name, str), name
            return name in client.board_repo.get_board_handle(board).list_image_names()

        results: dict[str, Any] = ns["results"]  # type: ignore[assignment]
        assert on_board(results["base"], "base_stage") and on_board(results["refined"], "refined_stage")
        assert on_board(results["upscaled"], "upscaled_stage")
        assert client.image_repo.get_image(results["upscaled"]).width == 128  # 64x64 upscaled 2x
        # progressive: three passes chained, each a new image; adaptive ran to its end
        stages: list[str] = ns["refined_stages"]  # type: ignore[assignment]
        assert len(set(stages)) == 3 and ns["base_image"] not in stages
        assert "Pass 5: Quality" in printed or "Quality threshold met" in printed
        portrait: dict[str, Any] = ns["portrait_results"]  # type: ignore[assignment]
        assert on_board(portrait["face_enhanced"], "face_enhanced")
        final = ns["final_enhanced"]
        assert isinstance(final, str) and client.image_repo.get_image(final).image_name == final  # uploaded, refined
        # parallel: three bases, three refined in threads, three async variations, all distinct
        refined_batch: list[str] = ns["refined_batch"]  # type: ignore[assignment]
        variations: list[str] = ns["variations"]  # type: ignore[assignment]
        assert len(set(refined_batch)) == 3 and len(set(variations)) == 3
        assert all(on_board(name, "refined_stage") for name in refined_batch + variations)
        # each thread's refine used its own prompt: the embedded workflows differ by prompt
        def prompts(name: str) -> set[str]:
            graph = client.image_repo.get_workflow(name).graph or {}
            return {v for node in graph["nodes"].values() for v in node.values()
                    if isinstance(v, str) and v.startswith("Fantasy landscape, ")}

        assert sorted(p for name in variations for p in prompts(name)) == [
            "Fantasy landscape, morning light", "Fantasy landscape, night time", "Fantasy landscape, sunset"]
    # streaming: base then refined per prompt; the application saved its three stages
    assert printed.count("\nbase: ") == 3 and printed.count("\nrefined: ") == 3
    for stage in ("base", "refined", "upscaled"):
        assert (tmp_path / "refined_outputs" / f"{stage}.png").stat().st_size > 0
