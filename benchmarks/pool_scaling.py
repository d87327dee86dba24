"""How a `ServerPool` scales, measured on loopback stand-in servers (issue 14).

    .venv/bin/python benchmarks/pool_scaling.py            # about six minutes
    .venv/bin/python benchmarks/pool_scaling.py --quick    # fewer items, for a look

This machine has 2 cores: real CPU servers prove correctness only (tests/integration/
test_pool.py). Here each server is `benchmarks/standin.py`: one item at a time with a
fixed service time, like a GPU, in a process of its own (the farm), followed by the
client through polling. Figures:

- scaling: k = 1, 2, 4, 8, 16, 32 servers, each with 20 s of work (0.5 s items, then
  0.2 s items: at 32 servers the client then handles ~150 rows/s); throughput
  (rows / wall time of `run_batch`: model sync and graph check on every server,
  placement, enqueueing, following, all included) against k x one server's. A new
  pool's clients first read their servers' schema once (`pool_setup_s`, not in the
  run's time: a pool lives for many runs).
- mixed: servers of 1x, 2x and 4x speed; the run's wall time against the ideal
  proportional split (rows / sum of speeds), cold (speeds unknown: equal split, idle
  servers take pending rows) and warm (speeds measured by an earlier run of the pool).
- failover: 4 servers, one dies (stops answering) a third into the run; every row
  finishes on the others; wall time against the ideal for the work that was left.

Results: benchmarks/results/pool.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from invokeai_py_client.pipelines.placement import item_seconds
from invokeai_py_client.pipelines.pool import PoolRun, ServerPool
from invokeai_py_client.workflow.chain import chain_workflows
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflow.model_sync import is_model_identifier
from invokeai_py_client.workflows import bundled_workflow_path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "pool.json"
KS = (1, 2, 4, 8, 16, 32)


def chain() -> WorkflowDefinition:
    return chain_workflows(
        [WorkflowDefinition.from_file(bundled_workflow_path(f)) for f in ("sdxl_base.json", "sdxl_refiner.json")],
        names=("Base", "Refine"), keep_stages=True,
    )


def model_records(definition: WorkflowDefinition) -> list[dict[str, Any]]:
    """The workflow's models as a server would list them, under a key of its own (as per install)."""
    refs = {}
    for node in definition.nodes.values():
        for entry in node.get("data", {}).get("inputs", {}).values():
            value = entry.get("value") if isinstance(entry, dict) else None
            if is_model_identifier(value):
                refs[value["name"]] = value
    return [dict(v, key=str(uuid.uuid4())) for v in refs.values()]


class Farm:
    """Stand-in servers, `PER_PROCESS` to a process (so the farm itself is not short of CPU)."""

    PER_PROCESS = 4

    def __init__(self, modes: list[dict[str, Any]]) -> None:
        self.processes: list[subprocess.Popen[str]] = []
        self.urls: list[str] = []
        for start in range(0, len(modes), self.PER_PROCESS):
            process = subprocess.Popen(
                [sys.executable, str(HERE / "standin.py"), json.dumps(modes[start : start + self.PER_PROCESS])],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            self.processes.append(process)
        for process in self.processes:
            assert process.stdout is not None
            for line in process.stdout:
                if line.strip() == "READY":
                    break
                self.urls.append(line.strip())

    def __enter__(self) -> Farm:
        return self

    def kill(self, index: int) -> None:
        """Server `index` stops answering and processing, as if SIGKILLed."""
        process = self.processes[index // self.PER_PROCESS]
        assert process.stdin is not None
        process.stdin.write(f"die {index % self.PER_PROCESS}\n")
        process.stdin.flush()

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in self.processes:
            process.wait(timeout=30)


def rows(count: int, tag: str) -> list[dict[str, Any]]:
    return [{"Base: Positive prompt": f"{tag} prompt {k}", "Base: Seed": k} for k in range(count)]


def warm_up(pool: ServerPool, definition: WorkflowDefinition) -> float:
    """Seconds a new pool takes to get ready: each client reads its server's schema once."""
    started = time.monotonic()
    pool.prepare(definition)
    return time.monotonic() - started


def timed_run(pool: ServerPool, definition: WorkflowDefinition, count: int, tag: str) -> tuple[float, PoolRun]:
    started = time.monotonic()
    run = pool.run_batch(definition, rows(count, tag))
    return time.monotonic() - started, run


def pool_for(urls: list[str]) -> ServerPool:
    return ServerPool(urls, use_events=False, probe_interval=0.25, outage_deadline=1.0)


def server_span(run: PoolRun) -> float:
    """First item started .. last item completed, by the servers' clocks."""
    starts = [datetime.fromisoformat(str(r.item.started_at)) for r in run.results]
    ends = [datetime.fromisoformat(str(r.item.completed_at)) for r in run.results]
    return (max(ends) - min(starts)).total_seconds()


def busy(run: PoolRun, servers: int, wall: float) -> float:
    """The servers' busy fraction of the run's wall time (sum of item service times / (k x wall))."""
    return sum(item_seconds(r.item) or 0.0 for r in run.results) / (servers * wall)


def scaling(definition: WorkflowDefinition, seconds: float, per_server: int) -> list[dict[str, Any]]:
    out = []
    base: float | None = None
    for k in KS:
        modes = [{"seconds": seconds, "models": model_records(definition)} for _ in range(k)]
        with Farm(modes) as farm, pool_for(farm.urls) as pool:
            setup = warm_up(pool, definition)
            wall, run = timed_run(pool, definition, k * per_server, f"k{k}")
        throughput = len(run.results) / wall
        base = base if base is not None else throughput
        spread = run.work_per_server()
        out.append({
            "k": k, "rows": len(run.results), "pool_setup_s": round(setup, 3), "wall_s": round(wall, 3), "rows_per_s": round(throughput, 2),
            "ratio_to_k_x_one": round(throughput / (k * base), 3), "servers_used": len(spread),
            "server_span_s": round(server_span(run), 3), "busy_fraction": round(busy(run, k, wall), 3),
            "rows_per_server_min_max": [min(spread.values()), max(spread.values())],
        })
        print(f"k={k:2d}: {len(run.results)} rows in {wall:.2f}s, {throughput:.1f}/s, "
              f"ratio {throughput / (k * base):.3f}", flush=True)
    return out


def mixed(definition: WorkflowDefinition, seconds: float, count: int) -> dict[str, Any]:
    speeds = (1, 2, 4)
    modes = [{"seconds": seconds * 4 / s, "models": model_records(definition)} for s in speeds]
    ideal = count / sum(1 / m["seconds"] for m in modes)
    out: dict[str, Any] = {"speeds": list(speeds), "seconds_per_item": [m["seconds"] for m in modes],
                           "rows": count, "ideal_s": round(ideal, 3)}
    with Farm(modes) as farm, pool_for(farm.urls) as pool:
        names = dict(zip(farm.urls, (f"{s}x" for s in speeds), strict=True))
        warm_up(pool, definition)
        for phase in ("cold", "warm"):
            wall, run = timed_run(pool, definition, count, phase)
            work = {names[url]: n for url, n in sorted(run.work_per_server().items())}
            out[phase] = {"wall_s": round(wall, 3), "over_ideal": round(wall / ideal - 1, 3), "rows_per_server": work}
            print(f"mixed {phase}: {wall:.2f}s vs ideal {ideal:.2f}s ({wall / ideal - 1:+.1%}), rows {work}",
                  flush=True)
    return out


def failover(definition: WorkflowDefinition, seconds: float, per_server: int) -> dict[str, Any]:
    k = 4
    count = k * per_server
    dies = per_server * seconds / 3
    modes = [{"seconds": seconds, "models": model_records(definition)} for _ in range(k)]
    with Farm(modes) as farm, pool_for(farm.urls) as pool:
        warm_up(pool, definition)
        timer = threading.Timer(dies, farm.kill, (0,))
        timer.start()
        wall, run = timed_run(pool, definition, count, "failover")
        timer.cancel()
        work = run.work_per_server()
    # Ideal: the dead server's unfinished rows spread over the others the moment it died.
    done_by_dead = int(dies / seconds)
    ideal = dies + (count - k * done_by_dead) * seconds / (k - 1)
    rows_done = len(run.results)
    print(f"failover: {rows_done}/{count} rows in {wall:.2f}s (ideal {ideal:.2f}s, server 0 died at {dies:.1f}s), "
          f"rows per server {sorted(work.values())}", flush=True)
    return {"servers": k, "rows": count, "rows_finished": rows_done, "dies_after_s": round(dies, 3),
            "wall_s": round(wall, 3), "ideal_s": round(ideal, 3), "outage_deadline_s": 1.0,
            "rows_per_server": sorted(work.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer items per server (a look, not figures)")
    parser.add_argument("--seconds", default="0.5,0.2",
                        help="service times per item of a 1x server for the scaling runs (comma-separated)")
    parser.add_argument("--run-seconds", type=float, default=20.0, help="length of each server's share of work")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    run_seconds = 4.0 if args.quick else args.run_seconds
    service = [float(x) for x in args.seconds.split(",")]
    definition = chain()
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                            cwd=HERE, check=False).stdout.strip()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": commit, "cpus": os.cpu_count(), "load_average_at_start": load,
        "workflow": "base -> refine, fused (one queue item per row)",
        "run_seconds_per_server": run_seconds,
        "scaling": {},
    }
    for seconds in service:
        per_server = round(run_seconds / seconds)
        print(f"scaling, {seconds}s per item, {per_server} rows per server:", flush=True)
        results["scaling"][str(seconds)] = scaling(definition, seconds, per_server)
    fastest = min(service)
    results["mixed"] = mixed(definition, fastest / 4, round(run_seconds / fastest) * 7 // 2)
    results["failover"] = failover(definition, fastest, round(run_seconds / fastest))
    ratios = {seconds: min(s["ratio_to_k_x_one"] for s in rows) for seconds, rows in results["scaling"].items()}
    results["targets"] = {
        "scaling_ratio_min_by_service_seconds": ratios,
        "scaling_ok (>= 0.95)": {seconds: ratio >= 0.95 for seconds, ratio in ratios.items()},
        "mixed_warm_over_ideal": results["mixed"]["warm"]["over_ideal"],
        "mixed_cold_over_ideal": results["mixed"]["cold"]["over_ideal"],
        "mixed_ok (<= 0.10)": results["mixed"]["warm"]["over_ideal"] <= 0.10,
    }
    results["load_average_at_end"] = Path("/proc/loadavg").read_text().split()[:3] if load else []
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"written {RESULTS}")
    print(json.dumps(results["targets"]))


if __name__ == "__main__":
    main()
