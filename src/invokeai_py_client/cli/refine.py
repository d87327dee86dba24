"""`invokeai-py refine`: prompts through base -> refine (-> face) (-> upscale), with progress bars.

    invokeai-py refine "a castle on a hill" "a lighthouse" --seed 42 --upscale --output-dir out/
    invokeai-py refine --prompts-file prompts.csv --enhance-face --upscale   # per-row seed, negative
    invokeai-py refine "a castle" --local --width 64 --height 64            # tiny local server

By default the stages are fused: one workflow per prompt, every prompt in ONE request,
each stage's image kept. `--no-fused` runs the stages one request at a time. Output:
a folder per prompt with a PNG per stage, `manifest.json` naming every image, and a
contact sheet (`index.html`, `contact_sheet.png`) with the stages side by side.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import re
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from .._exceptions import InvokeAIError, JobCanceledError, ValidationError
from ..client import InvokeAIClient
from ._watch import OutageWatch
from .report import write_contact_sheet, write_index


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("refine", help="generate, refine (and upscale) images for prompts", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompts", nargs="*", metavar="PROMPT", help="what to generate (one image each)")
    p.add_argument("--prompts-file", type=Path, default=None,
                   help="more prompts: .txt (a line each), .csv or .jsonl (columns prompt, seed, negative)")
    p.add_argument("--negative", default="", help="negative prompt (for rows that give none)")
    p.add_argument("--seed", type=int, default=None, help="seed of the first prompt, +1 for each next (random when omitted)")
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--height", type=int, default=1024)
    p.add_argument("--base-steps", type=int, default=30)
    p.add_argument("--refine-steps", type=int, default=15)
    p.add_argument("--refine-strength", type=float, default=0.3)
    p.add_argument("--cfg-scale", type=float, default=7.0)
    p.add_argument("--enhance-face", action="store_true", help="redraw the first face after refining")
    p.add_argument("--face-strength", type=float, default=0.5)
    p.add_argument("--progressive", type=int, default=0, metavar="N",
                   help="after refining, up to N more passes until --quality-threshold is reached "
                        "(a decision per image on the client: implies --no-fused)")
    p.add_argument("--quality-threshold", type=float, default=0.8, metavar="Q",
                   help="sharpness score (0..1) that ends --progressive passes")
    p.add_argument("--upscale", action="store_true", help="also upscale the final image")
    p.add_argument("--upscale-factor", type=int, default=2)
    p.add_argument("--upscale-model", default=None, help="spandrel model name or key")
    p.add_argument("--base-model", default=None, help="SDXL main model name or key")
    p.add_argument("--refiner-model", default=None, help="SDXL refiner model name or key")
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=True,
                   help="run the stages as one workflow per prompt, all prompts in one request (default); "
                        "--no-fused: a request per prompt and stage, scheduled so the prompts' stages interleave")
    p.add_argument("--look-ahead", type=int, default=2, metavar="K",
                   help="--no-fused: how many prompts' first stages wait on the queue at once (default 2)")
    p.add_argument("--output-dir", type=Path, default=Path("refined_outputs"))
    p.add_argument("--resume", action="store_true",
                   help="finish the run in --output-dir: finished prompts are kept, queued ones re-attached, "
                        "only lost ones submitted again")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON on stdout")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--url", "--server", dest="url", action="append", default=None,
                       help="server URL (default $INVOKEAI_URL or http://localhost:9090); "
                            "give it again for a run over several servers (see cli/pool.py)")
    where.add_argument("--servers", type=Path, default=None, metavar="FILE",
                       help="run over the servers in FILE (a URL a line, or JSON with names and credentials)")
    where.add_argument("--local", action="store_true", help="use (and start) the local CPU server with tiny models")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per prompt and stage")
    p.add_argument("--outage-deadline", type=_positive_seconds, default=60.0, metavar="S",
                   help="over several servers: seconds one may be unreachable before its prompts move to the others")
    p.set_defaults(func=run)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


# --- what to run ----------------------------------------------------------------------------


@dataclass
class Row:
    """One prompt to run, and what became of it."""

    prompt: str
    negative: str
    seed: int
    folder: str = ""
    item_ids: list[int] = field(default_factory=list)
    images: dict[str, dict[str, str]] = field(default_factory=dict)
    seconds: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Staged runs: per stage run (``base``, ``refined``, ``progressive-1``...), in chain order, its
    status (queued/completed), destination, item id, image name and seconds."""


def read_rows(prompts: list[str], prompts_file: Path | None, negative: str, seed: int | None) -> list[Row]:
    """The rows to run: positional prompts, then the file's; seeds given or counted up from `seed`."""
    from ..pipelines.refine import pick_seed

    raw: list[dict[str, Any]] = [{"prompt": p} for p in prompts]
    if prompts_file is not None:
        raw += _file_rows(prompts_file)
    if not raw:
        raise ValidationError("give at least one prompt (or --prompts-file)")
    first = pick_seed(seed)
    rows = []
    for index, entry in enumerate(raw):
        prompt = str(entry.get("prompt") or "").strip()
        if not prompt:
            raise ValidationError(f"row {index + 1}: no prompt")
        row_seed = entry.get("seed")
        rows.append(Row(
            prompt=prompt,
            negative=str(entry.get("negative") or negative),
            seed=pick_seed(int(row_seed)) if row_seed not in (None, "") else (first + index) % (2**32),
        ))
    return rows


def _file_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"prompts file {str(path)!r} cannot be read: {exc}") from None
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if rows and "prompt" not in rows[0]:
            raise ValidationError(f"prompts file {str(path)!r} has no 'prompt' column (columns: {list(rows[0])})")
        return rows
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        out = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"prompts file {str(path)!r} line {number}: not JSON ({exc.msg})") from None
                out.append(entry if isinstance(entry, dict) else {"prompt": entry})
        return out
    return [{"prompt": line} for line in text.splitlines() if line.strip()]


def folder_name(index: int, prompt: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "prompt"
    return f"{index + 1:03d}-{slug}"


@dataclass
class RunState:
    """A run's manifest: its destination tag, its rows and what became of them.

    Written atomically (a temporary file renamed) whenever it changes, so a run killed
    at any moment leaves a manifest that `--resume` can finish from.
    """

    path: Path
    destination: str
    fused: bool
    stages: list[str]
    rows: list[Row]

    @classmethod
    def open(cls, args: argparse.Namespace) -> RunState:
        path = args.output_dir / "manifest.json"
        stages = [stem for _, _, stem in _stages(args)]
        if args.resume and path.exists():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                rows = [Row(**row) for row in saved["prompts"]]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValidationError(f"{path} is not a manifest this command wrote: {exc}") from None
            given = read_rows(args.prompts, args.prompts_file, args.negative, args.seed) if args.prompts or args.prompts_file else None
            if given is not None and [r.prompt for r in given] != [r.prompt for r in rows]:
                raise ValidationError(f"--resume: the prompts differ from those of the run in {path}")
            if saved.get("stages") != stages or bool(saved.get("fused")) != args.fused:
                raise ValidationError(f"--resume: the stages differ from those of the run in {path} ({saved.get('stages')})")
            return cls(path, str(saved["destination"]), args.fused, stages, rows)
        rows = read_rows(args.prompts, args.prompts_file, args.negative, args.seed)
        for index, row in enumerate(rows):
            row.folder = str(args.output_dir / folder_name(index, row.prompt))
        state = cls(path, f"invokeai-py-refine:{uuid.uuid4().hex}", args.fused, stages, rows)
        state.save()
        return state

    def destinations(self) -> list[str]:
        """The destinations of the run's queue items that may still be pending."""
        if self.fused:
            return [self.destination]
        return [entry["destination"] for row in self.rows for entry in row.runs.values()
                if entry.get("status") == "queued" and entry.get("destination")]

    def to_json(self) -> dict[str, Any]:
        return {"destination": self.destination, "fused": self.fused, "stages": self.stages,
                "prompts": [asdict(row) for row in self.rows]}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".part")
        partial.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(partial, self.path)


# --- running --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    if args.progressive and args.fused:
        console.print("--progressive decides per image on the client: the stages run a request each (--no-fused)")
        args.fused = False
    try:
        run_state = RunState.open(args)
    except InvokeAIError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    urls = [args.url] if isinstance(args.url, str) else list(args.url or [])
    if len(urls) > 1 or getattr(args, "servers", None) is not None:
        from .pool import read_servers, run_pooled

        try:
            servers = read_servers(urls, args.servers)
        except InvokeAIError as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 2
        return run_pooled(args, run_state, servers, console)
    url = urls[0] if urls else None
    started_here = None
    if args.local:
        from ..server import LocalServer

        local = LocalServer()
        if local.url() is None:
            console.print("starting the local InvokeAI server (tiny CPU models)...")
            started_here = local
        url = local.up()
    try:
        return _refine(args, run_state, url, console)
    finally:
        if started_here is not None:
            console.print("stopping the local server this command started")
            started_here.down()


def _show_queue(client: InvokeAIClient, progress: Progress) -> None:
    """The queue's counts beside the first bar (every client's items: where the run's stand)."""
    counts = client.queue_repo.get_status().queue
    if progress.task_ids:
        progress.update(progress.task_ids[0], node=f"queue: {counts.in_progress} running, {counts.pending} waiting")


def _stages(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(title, bundled workflow, file stem of its image) of each stage, in order."""
    stages = [("Base", "sdxl_base.json", "base"), ("Refine", "sdxl_refiner.json", "refined")]
    if args.progressive:
        stages.append(("Progressive", "sdxl_refiner.json", "progressive"))
    if args.enhance_face:
        stages.append(("Face", "face_restore.json", "face"))
    if args.upscale:
        stages.append(("Upscale", "esrgan_upscale.json", "upscaled"))
    return stages


def _refine(args: argparse.Namespace, run: RunState, url: str | None, console: Console) -> int:
    progress = Progress(
        TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[node]}"), TimeElapsedColumn(), console=console,
    )
    rows = run.rows
    try:
        with (
            InvokeAIClient(url) as client, progress,
            OutageWatch(client.base_url, on_tick=lambda: _show_queue(client, progress)) as watch,
        ):
            try:
                if args.fused:
                    _run_fused(client, args, run, progress, watch)
                else:
                    from .refine_staged import run_staged

                    run_staged(client, args, run, progress, watch)
                for index, row in enumerate(rows):
                    row.folder = row.folder or str(args.output_dir / folder_name(index, row.prompt))
                    Path(row.folder).mkdir(parents=True, exist_ok=True)
                    for stem, info in row.images.items():
                        info["path"] = str(Path(row.folder) / f"{stem}.png")
                        if not Path(info["path"]).exists():  # downloads are renamed into place when whole
                            client.image_repo.download_to(info["image_name"], info["path"])
            except KeyboardInterrupt:
                canceled = sum(client.queue_repo.cancel_by_destination(d) for d in run.destinations())
                run.save()
                console.print(f"interrupted: canceled {canceled} queue item(s) of this run; --resume finishes it")
                return 130
    except InvokeAIError as exc:
        run.save()
        console.print(f"[red]error:[/red] {exc}")
        console.print(f"the same command with --resume finishes the run in {args.output_dir} "
                      "(finished prompts are kept, queued items re-attached, lost or canceled ones submitted again)")
        return 1
    run.save()
    manifest = run.to_json()
    write_index(args.output_dir, manifest["stages"], manifest["prompts"])
    write_contact_sheet(args.output_dir, manifest["stages"], manifest["prompts"])
    for row in rows:
        console.print(f"{row.folder}: " + ", ".join(sorted(row.images)) + f"  (seed {row.seed})")
    if args.json:
        sys.stdout.write(json.dumps(manifest) + "\n")
    return 0


def _apply(wf: Any, values: dict[str, Any]) -> None:
    for label, value in values.items():
        if value is not None:
            wf.get_input_value(label).value = value


def _stage_values(args: argparse.Namespace, title: str, prefix: str = "") -> dict[str, Any]:
    values: dict[str, dict[str, Any]] = {
        "Base": {"Steps": args.base_steps, "CFG scale": args.cfg_scale, "Width": args.width,
                 "Height": args.height, "Model": args.base_model},
        "Refine": {"Refinement steps": args.refine_steps, "Strength": args.refine_strength,
                   "CFG scale": args.cfg_scale, "Model": args.refiner_model},
        "Face": {"Enhancement strength": args.face_strength, "Face model": args.refiner_model},
        "Upscale": {"Scale": args.upscale_factor, "Upscaling model": args.upscale_model},
    }
    return {f"{prefix}{label}": value for label, value in values[title].items()}


def _run_fused(
    client: InvokeAIClient, args: argparse.Namespace, run: RunState, progress: Progress, watch: OutageWatch
) -> None:
    """Every prompt through the fused chain in ONE request; each stage's image kept.

    Resumable: prompts whose images are known are done; items of this run still on the
    queue (found by the run's destination) are waited for; only the rest is submitted.
    Items a server restart canceled (`watch`) are submitted again, once.
    """
    from ..workflow.chain import chain_workflows
    from ..workflow.definition import WorkflowDefinition
    from ..workflows import bundled_workflow_path

    stages = _stages(args)
    fused = chain_workflows(
        [WorkflowDefinition.from_file(bundled_workflow_path(f)) for _, f, _ in stages],
        names=[title for title, _, _ in stages], keep_stages=True,
    )
    wf = client.workflow_repo.create_workflow(fused)
    wf.sync_dnn_model(by_name=True, by_base=True)
    for title, _, _ in stages:
        _apply(wf, _stage_values(args, title, prefix=f"{title}: "))

    pending = {index for index, row in enumerate(run.rows) if set(row.images) != set(run.stages)}
    jobs: dict[int, Any] = {}  # row index -> job
    by_key = {(row.prompt, row.seed): index for index, row in enumerate(run.rows)}
    for item in client.queue_repo.items_by_destination(run.destination):
        index = by_key.get(_ran_key(item), -1)
        if index in pending and item.status not in ("failed", "canceled"):
            jobs.setdefault(index, client.queue_repo.attach_job(item.item_id))
    task = progress.add_task("prompts", total=len(run.rows), completed=len(run.rows) - len(pending), node="")
    started = time.monotonic()
    missing_indices = sorted(pending - set(jobs))
    for attempt in range(2):
        submitted = time.monotonic()
        if missing_indices:
            _submit_fused(wf, run, missing_indices, jobs)
        waiting = list(jobs.values()) if attempt == 0 else [jobs[index] for index in missing_indices]
        for _ in concurrent.futures.as_completed(waiting, timeout=args.timeout * len(stages) * max(len(jobs), 1)):
            progress.advance(task)
        lost = sorted(index for index, job in jobs.items() if _canceled(job) and watch.down_since(submitted))
        if not lost or attempt:
            break
        progress.console.print(f"the server restarted: {len(lost)} prompt(s) it canceled are submitted again")
        progress.update(task, advance=-len(lost))
        missing_indices = lost
    stems = {title.lower(): stem for title, _, stem in stages}
    for index, job in sorted(jobs.items()):
        row, item = run.rows[index], job.result()
        if _ran_key(item) != (row.prompt, row.seed):
            raise InvokeAIError(f"queue item {item.item_id} ran {_ran_key(item)}, not {(row.prompt, row.seed)}")
        if item.item_id not in row.item_ids:
            row.item_ids.append(item.item_id)
        row.seconds = _seconds(item) or time.monotonic() - started
        for output in wf.map_outputs_to_images(item):
            stage = output["node_id"].split("-", 1)[0]
            if output["role"] == "output" and stage in stems and output["image_names"]:
                row.images[stems[stage]] = {"image_name": output["image_names"][0]}
        run.save()


def _submit_fused(wf: Any, run: RunState, indices: list[int], jobs: dict[int, Any]) -> None:
    """Submit the rows `indices` as ONE request; their jobs go into `jobs`, their item ids into the manifest."""
    rows = [run.rows[index] for index in indices]
    swept: dict[str, list[Any]] = {
        "Base: Positive prompt": [r.prompt for r in rows], "Base: Negative prompt": [r.negative for r in rows],
        "Refine: Prompt": [r.prompt for r in rows], "Refine: Negative prompt": [r.negative for r in rows],
        "Base: Seed": [r.seed for r in rows],
    }
    for label, values in swept.items():
        wf.get_input_value(label).values = values
    batch = wf.submit_batch_sync(zipped=[tuple(swept)], destination=run.destination)
    for index, job in zip(indices, batch.jobs, strict=True):  # items follow the values' order
        jobs[index] = job
        run.rows[index].item_ids.append(job.item_id)
    run.save()  # the items exist now: a rerun re-attaches them, never submits them twice


def _canceled(job: Any) -> bool:
    return bool(job.done() and isinstance(job.exception(), JobCanceledError))


def _ran_key(item: Any) -> tuple[Any, Any]:
    """(prompt, seed) an item of a fused run ran with, from its batch values."""
    ran = {(v["node_path"], v["field_name"]): v["value"] for v in item.to_dict().get("field_values") or []}
    return ran.get(("base-positive_prompt", "value")), ran.get(("base-noise", "seed"))


def _seconds(item: Any) -> float | None:
    if item.started_at and item.completed_at:
        from datetime import datetime

        try:
            return (datetime.fromisoformat(str(item.completed_at)) - datetime.fromisoformat(str(item.started_at))).total_seconds()
        except ValueError:
            return None
    return None
