"""`invokeai-py refine ... --url U1 --url U2` and `invokeai-py server up --instances N`: runs over a pool.

    invokeai-py server up --instances 3                      # pool-1..pool-3, a URL per line
    invokeai-py refine "a castle" "a lighthouse" --url http://127.0.0.1:9186 --url http://127.0.0.1:9187
    invokeai-py refine --prompts-file p.txt --servers servers.json   # with names and credentials

A pooled refine is a fused run (one queue item per prompt) split over the servers by
their speed and queued work; each prompt's images are downloaded from the server that
made them as soon as it finishes, and the manifest names that server. A server that
stays unreachable past the outage deadline has its prompts placed on the others.
`--resume` finishes the run from every server (by the run's destination).
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
from ..pipelines.pool import PoolResult, PoolServer, ServerPool
from .report import write_contact_sheet, write_index

__all__ = ["instances_down", "instances_up", "read_servers", "run_pooled"]

INSTANCE_PREFIX = "pool-"


def read_servers(urls: list[str] | None, servers_file: Path | None) -> list[PoolServer]:
    """The pool's servers: each `--url`, then the file's (one URL a line, or a JSON list).

    A JSON list holds URLs or objects with ``url`` and optionally ``name``, ``token``,
    ``email``, ``password``.
    """
    servers = [PoolServer(url) for url in urls or []]
    if servers_file is not None:
        try:
            text = servers_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(f"servers file {str(servers_file)!r} cannot be read: {exc}") from None
        if text.lstrip().startswith("["):
            try:
                entries = json.loads(text)
                servers += [PoolServer(e) if isinstance(e, str) else PoolServer(**e) for e in entries]
            except (ValueError, TypeError) as exc:
                raise ValidationError(f"servers file {str(servers_file)!r}: {exc}") from None
        else:
            servers += [PoolServer(line.strip()) for line in text.splitlines()
                        if line.strip() and not line.lstrip().startswith("#")]
    return servers


def run_pooled(args: argparse.Namespace, run: Any, servers: list[PoolServer], console: Console) -> int:
    """The fused refine run of `run` (a `refine.RunState`) over `servers`; the exit code."""
    from .refine import _stage_values, _stages, folder_name

    if not args.fused:
        console.print("[red]error:[/red] a run over several servers is fused (one queue item per prompt): "
                      "drop --no-fused / --progressive")
        return 2
    from ..workflow.chain import chain_workflows
    from ..workflow.definition import WorkflowDefinition
    from ..workflows import bundled_workflow_path

    stages = _stages(args)
    fused = chain_workflows(
        [WorkflowDefinition.from_file(bundled_workflow_path(f)) for _, f, _ in stages],
        names=[title for title, _, _ in stages], keep_stages=True,
    )
    values = {label: value for title, _, _ in stages
              for label, value in _stage_values(args, title, prefix=f"{title}: ").items() if value is not None}
    stems = {title.lower(): stem for title, _, stem in stages}
    for index, row in enumerate(run.rows):
        row.folder = row.folder or str(args.output_dir / folder_name(index, row.prompt))
    rows = [{"Base: Positive prompt": r.prompt, "Base: Negative prompt": r.negative, "Refine: Prompt": r.prompt,
             "Refine: Negative prompt": r.negative, "Base: Seed": r.seed} for r in run.rows]
    progress = Progress(TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)
    try:
        with ServerPool(servers, outage_deadline=args.outage_deadline) as pool, progress:
            task = progress.add_task("prompts", total=len(rows))

            def keep(result: PoolResult) -> None:
                row = run.rows[result.index]
                Path(row.folder).mkdir(parents=True, exist_ok=True)
                client = pool.client(result.server)
                for output in result.outputs:
                    stem = stems.get(output["node_id"].split("-", 1)[0])
                    if stem is not None and output["image_names"]:
                        path = Path(row.folder) / f"{stem}.png"
                        if not path.exists():
                            client.image_repo.download_to(output["image_names"][0], path)
                        row.images[stem] = {"image_name": output["image_names"][0], "server": result.server,
                                            "path": str(path)}
                row.item_ids = sorted({*row.item_ids, result.item.item_id})
                row.seconds = _seconds(result)
                run.save()
                progress.advance(task)

            try:
                outcome = pool.run_batch(fused, rows, values=values, destination=run.destination, by_base=True,
                                         timeout=args.timeout * len(stages) * len(rows), on_result=keep)
            except KeyboardInterrupt:
                canceled = sum(pool.client(name).queue_repo.cancel_by_destination(run.destination)
                               for name in pool.names)
                run.save()
                console.print(f"interrupted: canceled {canceled} queue item(s) of this run; --resume finishes it")
                return 130
    except InvokeAIError as exc:
        run.save()
        console.print(f"[red]error:[/red] {exc}")
        return 1
    run.save()
    manifest = run.to_json()
    write_index(args.output_dir, manifest["stages"], manifest["prompts"])
    write_contact_sheet(args.output_dir, manifest["stages"], manifest["prompts"])
    table = Table("server", "prompts", title="work per server")
    for name, count in sorted(outcome.work_per_server().items()):
        table.add_row(name, str(count))
    console.print(table)
    if outcome.down:
        console.print(f"servers down at the end: {', '.join(outcome.down)} (their queued items of this run are "
                      "canceled by the next --resume or run on them)")
    if args.json:
        sys.stdout.write(json.dumps(manifest) + "\n")
    return 0


def _seconds(result: PoolResult) -> float | None:
    from ..pipelines.placement import item_seconds

    return item_seconds(result.item)


def instance_names(count: int) -> list[str]:
    if count < 1:
        raise ValidationError(f"--instances must be >= 1, got {count}")
    return [f"{INSTANCE_PREFIX}{k}" for k in range(1, count + 1)]


def instances_up(count: int, home: Path | None, version: str | None) -> list[str]:
    """Start local instances pool-1..pool-N at once (each its own port); their URLs."""
    from ..server import LocalServer

    servers = [LocalServer(home, instance=name, invokeai_version=version) for name in instance_names(count)]
    with concurrent.futures.ThreadPoolExecutor(count) as starting:
        return list(starting.map(lambda s: s.up(), servers))


def instances_down(count: int, home: Path | None) -> int:
    """Stop local instances pool-1..pool-N; how many were running."""
    from ..server import LocalServer

    return sum(LocalServer(home, instance=name).down() for name in instance_names(count))
