"""Run the Python blocks of a documentation page, in order, in one namespace.

A page is read like a notebook: each ```python block runs after the ones above it,
sharing their names, with ``__name__ == "__main__"``. The blocks stay as users read
them; before running, the test makes only the changes a reader makes for their own
server, listed in `LOCAL_SERVER` (the URL, the installed models' names) plus smaller
images and fewer steps for a CPU server (1024 becomes 64; step counts, written as
``steps=N``, ``"steps": N`` or ``= N  # ... steps``, become at most 4). A block preceded by
``<!-- test: raises NAME -->`` must raise the exception class NAME (the page shows
what the server answers, e.g. for a model it does not have); the namespace keeps the
last one as ``_raised`` and all of them, in order, as ``_raised_all``.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from invokeai_py_client.workflows import BUNDLED_WORKFLOWS, bundled_workflow_path

DOCS = Path(__file__).resolve().parent.parent / "docs"

LOCAL_SERVER: dict[str, str] = {
    # the installed models: the local server's tiny ones
    '"RealESRGAN_x4plus"': '"tiny-esrgan-x4"',
    '"RealESRGAN_x2plus"': '"tiny-esrgan-x2"',
    '"stable-diffusion-xl-base-1-0"': '"tiny-sdxl"',
    '"stable-diffusion-xl-refiner-1-0"': '"tiny-sdxl-refiner"',
    '"Juggernaut XL v9"': '"tiny-sdxl"',
}
# a CPU server: 64x64 images and a few steps
STEPS = re.compile(r'(\w*steps\s*(?::\s*int\s*)?=\s*|"steps":\s*)(\d+)')
STEPS_COMMENT = re.compile(r"(=\s*)(\d+)(?=\s*#[^\n]*\bsteps\b)", re.I)  # `.value = 30  # Steps`
SIZE = re.compile(r"(?<![\w.])1024(?![\w.])")
BLOCK = re.compile(r"(?:<!-- test: raises (\w+) -->\s*\n)?```python\n(.*?)```", re.S)


@dataclass
class Block:
    code: str
    raises: str | None
    line: int


def blocks(page: str) -> list[Block]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [Block(m.group(2), m.group(1), text.count("\n", 0, m.start(2)) + 1) for m in BLOCK.finditer(text)]


def for_local_server(code: str, server_url: str) -> str:
    code = code.replace("http://localhost:9090", server_url)
    for old, new in LOCAL_SERVER.items():
        code = code.replace(old, new)
    code = SIZE.sub("64", code)
    for steps in (STEPS, STEPS_COMMENT):
        code = steps.sub(lambda m: m.group(1) + str(min(int(m.group(2)), 4)), code)
    return code


def prepare_workdir(workdir: Path, size: int = 64) -> None:
    """data/workflows/ with the bundled workflows at `size`, and two local images."""
    data = workdir / "data" / "workflows"
    data.mkdir(parents=True)
    for filename in BUNDLED_WORKFLOWS:
        workflow = json.loads(bundled_workflow_path(filename).read_text())
        for node in workflow["nodes"]:
            for name, field in node.get("data", {}).get("inputs", {}).items():
                if name in ("width", "height") and isinstance(field.get("value"), int):
                    field["value"] = size
        (data / filename).write_text(json.dumps(workflow))
    Image.new("RGB", (size, size), (120, 90, 60)).save(workdir / "portrait.png")
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (0, 0, size, size // 2))
    mask.save(workdir / "background_mask.png")


@contextlib.contextmanager
def argv(args: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = args
    try:
        yield
    finally:
        sys.argv = saved


def run_page(page: str, server_url: str, workdir: Path, monkeypatch: pytest.MonkeyPatch,
             args: list[str] | None = None) -> tuple[dict[str, object], str]:
    """Run every block of `page`; returns the namespace and what the blocks printed."""
    prepare_workdir(workdir)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("INVOKEAI_URL", server_url)
    raised: list[BaseException] = []
    namespace: dict[str, object] = {"__name__": "__main__", "_raised_all": raised}
    out = io.StringIO()
    for block in blocks(page):
        code = compile(for_local_server(block.code, server_url), f"{page}:{block.line}", "exec")
        with contextlib.redirect_stdout(out), argv([page, *(args or [])]):
            if block.raises is None:
                try:
                    exec(code, namespace)
                except SystemExit as exc:
                    assert exc.code in (0, None), f"{page}:{block.line} exited with {exc.code}"
                continue
            with pytest.raises(Exception) as caught:
                exec(code, namespace)
            names = [cls.__name__ for cls in type(caught.value).__mro__]
            assert block.raises in names, f"{page}:{block.line} raised {caught.value!r}, not {block.raises}"
            namespace["_raised"] = caught.value
            raised.append(caught.value)
    return namespace, out.getvalue()
