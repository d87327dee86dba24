"""`make docs` builds the site: every page in the nav, the API reference from the docstrings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_site_builds_strictly_with_every_page(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    page = (site / "multi-stage-refine" / "index.html").read_text(encoding="utf-8")
    assert "Multi-Stage Refine" in page and "MultiStageRefiner" in page
    for name in ("sdxl-text-to-image", "flux-image-to-image", "raw-api", "migrating-from-1.1"):
        assert (site / name / "index.html").stat().st_size > 0, name
    reference = (site / "reference" / "client" / "index.html").read_text(encoding="utf-8")
    assert "InvokeAIClient" in reference and "from_url" in reference  # rendered from the docstrings
