"""`invokeai-py refine`: base -> refine -> upscale from the command line, with progress bars.

    invokeai-py refine "a castle on a hill" --seed 42 --upscale --output-dir out/
    invokeai-py refine "a castle" --local --width 64 --height 64   # tiny local server
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .._exceptions import InvokeAIError
from ..client import InvokeAIClient
from ..events import Event, InvocationProgressEvent, InvocationStartedEvent


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("refine", help="generate, refine and upscale an image", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompt", help="what to generate")
    p.add_argument("--negative", default="", help="negative prompt")
    p.add_argument("--seed", type=int, default=None, help="seed (random when omitted)")
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--height", type=int, default=1024)
    p.add_argument("--base-steps", type=int, default=30)
    p.add_argument("--refine-steps", type=int, default=15)
    p.add_argument("--refine-strength", type=float, default=0.3)
    p.add_argument("--cfg-scale", type=float, default=7.0)
    p.add_argument("--upscale", action="store_true", help="also upscale the refined image")
    p.add_argument("--upscale-factor", type=int, default=2)
    p.add_argument("--upscale-model", default=None, help="spandrel model name or key")
    p.add_argument("--base-model", default=None, help="SDXL main model name or key")
    p.add_argument("--refiner-model", default=None, help="SDXL refiner model name or key")
    p.add_argument("--output-dir", type=Path, default=Path("refined_outputs"))
    where = p.add_mutually_exclusive_group()
    where.add_argument("--url", default=None, help="server URL (default $INVOKEAI_URL or http://localhost:9090)")
    where.add_argument("--local", action="store_true", help="use (and start) the local CPU server with tiny models")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per stage")
    p.set_defaults(func=run)


class _StageProgress:
    """A rich progress bar per stage, fed by the job's events."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def start(self, stage: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=100)
        self.task = self.progress.add_task(stage, total=100, node="")

    def __call__(self, event: Event) -> None:
        if self.task is None:
            return
        if isinstance(event, InvocationProgressEvent) and event.percentage is not None:
            self.progress.update(self.task, completed=100 * event.percentage, node=event.invocation_source_id or "")
        elif isinstance(event, InvocationStartedEvent):
            self.progress.update(self.task, node=event.invocation_source_id or "")

    def finish(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=100)


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    url = args.url
    started_here = None
    if args.local:
        from ..server import LocalServer

        local = LocalServer()
        if local.url() is None:
            console.print("starting the local InvokeAI server (tiny CPU models)...")
            started_here = local
        url = local.up()
    try:
        return _refine(args, url, console)
    finally:
        if started_here is not None:
            console.print("stopping the local server this command started")
            started_here.down()


def _refine(args: argparse.Namespace, url: str | None, console: Console) -> int:
    from ..pipelines import MultiStageRefiner, StageModels

    progress = Progress(
        TextColumn("[bold]{task.description:<10}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[node]}"), TimeElapsedColumn(), console=console,
    )
    bars = _StageProgress(progress)
    try:
        with InvokeAIClient(url) as client, progress:
            models = StageModels(base=args.base_model, refiner=args.refiner_model, upscaler=args.upscale_model)
            refiner = MultiStageRefiner(client, models=models, timeout=args.timeout, on_event=bars)
            stages: dict[str, Any] = {}
            bars.start("base")
            base, _ = refiner.generate_base(
                args.prompt, args.negative, seed=args.seed, steps=args.base_steps,
                cfg_scale=args.cfg_scale, width=args.width, height=args.height,
            )
            stages["base"] = base
            bars.start("refine")
            refined, _ = refiner.refine_image(
                base, args.prompt, args.negative, refiner_steps=args.refine_steps,
                refiner_strength=args.refine_strength, cfg_scale=args.cfg_scale,
            )
            stages["refined"] = refined
            if args.upscale:
                bars.start("upscale")
                stages["upscaled"], _ = refiner.upscale_image(refined, scale=args.upscale_factor)
            bars.finish()
            args.output_dir.mkdir(parents=True, exist_ok=True)
            saved = {}
            for stage, name in stages.items():
                path = args.output_dir / f"{stage}.png"
                client.image_repo.download_to(name, path)
                saved[stage] = {"image_name": name, "path": str(path)}
    except InvokeAIError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    (args.output_dir / "result.json").write_text(json.dumps(saved, indent=2) + "\n")
    for stage, info in saved.items():
        console.print(f"{stage:>9}: {info['path']}  ({info['image_name']})")
    sys.stdout.write(json.dumps(saved) + "\n")
    return 0
