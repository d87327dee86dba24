"""`invokeai-py inputs` and `invokeai-py run`: any exported workflow from the command line.

    invokeai-py inputs my-workflow.json
    invokeai-py run my-workflow.json --set "Positive prompt=a castle" --set 2=42 \\
        --sweep Steps=10,20,30 --output-dir out/

Inputs are addressed by Form label or index. Values are read as JSON where the input is
not a string (``42``, ``7.5``, ``true``, ``{"board_id": "..."}``), as text otherwise. A
sweep is ONE request; model references are first synced to the server's models (by
name, then base) and what changed is shown. Every saved image of every item is
downloaded.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._exceptions import InvokeAIError, ValidationError
from ..client import InvokeAIClient
from ..workflow.definition import WorkflowDefinition


def register(subparsers: Any) -> None:
    inputs = subparsers.add_parser("inputs", help="list an exported workflow's Form inputs", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    inputs.add_argument("workflow", type=Path, help="an exported workflow JSON")
    inputs.add_argument("--url", "--server", dest="url", default=None,
                        help="server whose schema types the inputs (default $INVOKEAI_URL or http://localhost:9090)")
    inputs.add_argument("--json", action="store_true", help="print the inputs as JSON")
    inputs.set_defaults(func=show_inputs)

    run = subparsers.add_parser("run", help="run an exported workflow and download its images", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("workflow", type=Path, help="an exported workflow JSON")
    run.add_argument("--set", dest="values", action="append", default=[], metavar="LABEL_OR_INDEX=VALUE")
    run.add_argument("--sweep", action="append", default=[], metavar="LABEL_OR_INDEX=V1,V2,...",
                     help="one queue item per value (several sweeps multiply)")
    run.add_argument("--runs", type=int, default=1, help="run everything this many times")
    run.add_argument("--output-dir", type=Path, default=Path("outputs"))
    run.add_argument("--url", "--server", dest="url", default=None)
    run.add_argument("--timeout", type=float, default=600.0, help="seconds per queue item")
    run.add_argument("--json", action="store_true", help="print what was saved as JSON")
    run.set_defaults(func=run_workflow)


def _key(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text.strip()


def _split(assignment: str, option: str) -> tuple[int | str, str]:
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise ValidationError(f"{option} {assignment!r}: write LABEL_OR_INDEX=VALUE")
    return _key(key), value


def _parse(field: Any, text: str) -> Any:
    if field.kind == "string":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a name (model, board, enum value) or a path (image)


def show_inputs(args: argparse.Namespace) -> int:
    console = Console()
    try:
        with InvokeAIClient(args.url, use_events=False) as client:
            wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(args.workflow))
            rows = []
            for inp in wf.list_inputs():
                spec = inp.field.spec
                limits = []
                if spec is not None:
                    if spec.minimum is not None or spec.maximum is not None:
                        limits.append(f"{spec.minimum if spec.minimum is not None else ''}..{spec.maximum if spec.maximum is not None else ''}")
                    if spec.options:
                        limits.append("one of " + ", ".join(map(str, spec.options[:8])) + (" ..." if len(spec.options) > 8 else ""))
                rows.append({"index": inp.input_index, "label": inp.label, "path": inp.path, "type": inp.field.kind,
                             "value": inp.value, "required": inp.required, "constraints": "; ".join(limits)})
    except InvokeAIError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
        return 0
    table = Table(title=f"{wf.name} ({args.workflow})")
    for column in ("index", "label", "node.field", "type", "value", "constraints"):
        table.add_column(column, overflow="fold")
    for row in rows:
        value = json.dumps(row["value"], default=str)
        table.add_row(str(row["index"]), row["label"] or "", row["path"], row["type"],
                      value if len(value) <= 60 else value[:57] + "...", row["constraints"])
    console.print(table)
    return 0


def run_workflow(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        with InvokeAIClient(args.url) as client:
            wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(args.workflow))
            for change in wf.sync_dnn_model(by_name=True, by_base=True):
                console.print(f"model: {change}")
            for assignment in args.values:
                key, text = _split(assignment, "--set")
                field = wf.get_input_value(key)
                field.value = _parse(field, text)
            for assignment in args.sweep:
                key, text = _split(assignment, "--sweep")
                field = wf.get_input_value(key)
                field.values = [_parse(field, part) for part in text.split(",")]
            batch = wf.submit_batch_sync(runs=args.runs)
            console.print(f"enqueued {len(batch)} queue item(s) in {len(batch.results)} request(s)")
            with Progress(TextColumn("[bold]items"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console) as progress:
                task = progress.add_task("items", total=len(batch))
                for _ in concurrent.futures.as_completed(batch.jobs, timeout=args.timeout * max(len(batch), 1)):
                    progress.advance(task)
            saved = []
            args.output_dir.mkdir(parents=True, exist_ok=True)
            for item in batch.wait(timeout=args.timeout):
                for output in wf.map_outputs_to_images(item):
                    if output["role"] != "output":
                        continue
                    for n, name in enumerate(output["image_names"]):
                        path = args.output_dir / f"{item.item_id}-{output['node_id']}-{n}.png"
                        client.image_repo.download_to(name, path)
                        saved.append({"item_id": item.item_id, "node_id": output["node_id"], "image_name": name,
                                      "path": str(path), "values": output.get("field_values") or {}})
    except InvokeAIError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    for entry in saved:
        console.print(f"{entry['path']}  {json.dumps(entry['values'])}")
    if args.json:
        sys.stdout.write(json.dumps(saved) + "\n")
    return 0
