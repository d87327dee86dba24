"""The golden data: real GUI exports, the queue items they produced, the server's schema.

It lives beside the repository, in ``../shared/reference`` (it comes from another
project and is never committed here). A test that needs a file that is not there
skips, naming the file and where it looked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def golden_path(relative: str) -> Path:
    """`../shared/reference/<relative>`; skips the test when it is not there."""
    path = REFERENCE / relative
    if not path.exists():
        pytest.skip(f"golden data {relative} is not at {REFERENCE} (it lives beside the repo, in ../shared)")
    return path


def golden_json(relative: str) -> Any:
    """The parsed JSON of a golden file; skips the test when it is not there."""
    return json.loads(golden_path(relative).read_text(encoding="utf-8"))


def golden_workflow(name: str) -> dict[str, Any]:
    """A GUI export from ``reference/workflows`` by name (without ``.json``)."""
    data: dict[str, Any] = golden_json(f"workflows/{name}.json")
    return data
