"""A run's contact sheet: `index.html` (stages side by side per prompt) and `contact_sheet.png`."""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("invokeai_py_client.cli")

THUMB = 192
"""Pixels of the longer side of each image in `contact_sheet.png`."""


def write_index(output_dir: Path, stages: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Path:
    """`index.html`: a row per prompt, a column per stage, with seed, time and values."""
    head = "".join(f"<th>{html.escape(stage)}</th>" for stage in stages)
    body = []
    for row in rows:
        folder = Path(row["folder"])
        cells = []
        for stage in stages:
            image = row["images"].get(stage)
            if image is None:
                cells.append("<td>-</td>")
                continue
            relative = Path(image["path"]).relative_to(output_dir).as_posix()
            cells.append(
                f'<td><a href="{html.escape(relative)}"><img src="{html.escape(relative)}" '
                f'alt="{html.escape(stage)}" title="{html.escape(image["image_name"])}"></a></td>'
            )
        seconds = f"{row['seconds']:.1f} s" if row.get("seconds") is not None else ""
        if row.get("scores"):
            seconds += " &middot; scores " + ", ".join(f"{html.escape(k)} {v:.3f}" for k, v in row["scores"].items())
        body.append(
            f"<tr><th scope=row><p>{html.escape(row['prompt'])}</p><p class=meta>seed {row['seed']}"
            f"{' &middot; negative: ' + html.escape(row['negative']) if row.get('negative') else ''}"
            f" &middot; {seconds} &middot; {html.escape(folder.name)}</p></th>{''.join(cells)}</tr>"
        )
    page = f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>invokeai-py refine: {len(rows)} prompts</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; background: #111; color: #ddd; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .4em; vertical-align: top; text-align: left; }}
img {{ width: {THUMB}px; image-rendering: pixelated; background: #222; }} .meta {{ color: #999; font-weight: normal; }}
</style></head><body>
<h1>{len(rows)} prompts &times; {len(stages)} stages</h1>
<table><thead><tr><th>prompt</th>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table></body></html>
"""
    path = output_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_contact_sheet(output_dir: Path, stages: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Path | None:
    """`contact_sheet.png`: the same grid as one image (needs Pillow, the `quality` extra)."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        log.warning("contact_sheet.png not written: Pillow is not installed (pip install 'invokeai-py-client[quality]')")
        return None
    label_height = 18
    sheet = Image.new("RGB", (THUMB * len(stages), (THUMB + label_height) * len(rows)), (17, 17, 17))
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(rows):
        top = r * (THUMB + label_height)
        draw.text((4, top + 2), f"{row['prompt'][:60]}  (seed {row['seed']})", fill=(220, 220, 220))
        for c, stage in enumerate(stages):
            image = row["images"].get(stage)
            if image is None:
                continue
            with Image.open(image["path"]) as picture:
                thumb = picture.convert("RGB")
                thumb.thumbnail((THUMB, THUMB), Image.Resampling.NEAREST)
                if thumb.width < THUMB and thumb.height < THUMB:
                    scale = THUMB / max(thumb.width, thumb.height)
                    thumb = thumb.resize((round(thumb.width * scale), round(thumb.height * scale)), Image.Resampling.NEAREST)
                sheet.paste(thumb, (c * THUMB, top + label_height))
    path = output_dir / "contact_sheet.png"
    sheet.save(path)
    return path
