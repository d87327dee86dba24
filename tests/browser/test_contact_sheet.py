"""The `refine` command's contact sheet, looked at in a real browser."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Browser

from invokeai_py_client.cli.main import main


def test_index_html_shows_every_stage_of_every_prompt(browser: Browser, server_url: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main([
        "refine", "a portrait", "a castle", "--url", server_url, "--seed", "42",
        "--width", "64", "--height", "64", "--base-steps", "2", "--refine-steps", "2",
        "--enhance-face", "--upscale", "--output-dir", str(out),
    ])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"] == ["base", "refined", "face", "upscaled"]

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto((out / "index.html").as_uri())
        shown = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth > 0])"
        )
        page.screenshot(path=str(out / "index.png"), full_page=True)
    finally:
        page.close()
    expected = [
        Path(row["images"][stage]["path"]).relative_to(out).as_posix()
        for row in manifest["prompts"] for stage in manifest["stages"]
    ]
    assert [src for src, _ in shown] == expected
    assert all(loaded for _, loaded in shown), shown
    assert (out / "contact_sheet.png").stat().st_size > 0
