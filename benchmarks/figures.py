"""The benchmark's figures: pure functions over run records and queue items (no I/O).

A run record is what `bench.py` keeps of one workload process: ``name`` ("chain.peer"),
``rep``, ``result`` (the process's RESULT line), ``proxy`` (the counting proxy's totals),
``marks`` (its totals at each MARK) and, once computed here, ``figures``.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

ENQUEUE = "POST /api/v1/queue/default/enqueue_batch"


def epoch(stamp: Any) -> float:
    """Seconds since the epoch of a server timestamp (InvokeAI's naive ones are UTC)."""
    parsed = dt.datetime.fromisoformat(str(stamp).replace(" ", "T"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def union(spans: Iterable[tuple[float, float]], window: tuple[float, float] | None = None) -> float:
    """Total length covered by `spans`, each clipped to `window` when given."""
    total, end = 0.0, -math.inf
    for a, b in sorted(spans):
        if window is not None:
            a, b = max(a, window[0]), min(b, window[1])
        if b <= a:
            continue
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The q-quantile by nearest rank: p95 of 30 values is the 29th smallest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q) - 1)] if ordered else math.nan


def spans_of(items: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    """Each queue item's run span, [started_at, completed_at], from the server's own clock."""
    return [(epoch(i["started_at"]), epoch(i["completed_at"])) for i in items]


def chain_figures(t0: float, items: Sequence[dict[str, Any]], foreign: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Busy fraction, idle per item, wall and lead of a run that started submitting at `t0`.

    Wall time runs from the first submit (client clock) to the last ``completed_at``;
    busy time is the union of the items' run spans. `foreign` are other clients' item
    spans: the server runs one item at a time, so their time inside the window is
    reported (and one variant of the busy fraction leaves it out of the wall time).
    """
    spans = spans_of(items)
    end = max(b for _, b in spans)
    first_start = min(a for a, _ in spans)
    busy = union(spans)
    wall = end - t0
    foreign_s = union(foreign, (t0, end))
    return {
        "items": len(items),
        "wall_s": wall,
        "busy_s": busy,
        "busy": busy / wall,
        "idle_ms_per_item": 1000 * (wall - busy) / len(items),
        "foreign_busy_s": foreign_s,
        "busy_excluding_foreign": busy / (wall - foreign_s) if wall > foreign_s else None,
        "lead_ms": 1000 * (first_start - t0),
        "lead_foreign_ms": 1000 * union(foreign, (t0, first_start)),
    }


def cost_figures(result: dict[str, Any], counts: dict[str, Any], items: int, prompts: int | None = None) -> dict[str, Any]:
    """The client process's CPU, requests and bytes (received; sent apart) per queue item."""
    figures = {
        "cpu_ms_per_item": 1000 * result["cpu_s"] / items,
        "cpu_ms_total": 1000 * result["cpu_s"],
        "setup_cpu_ms": 1000 * result.get("setup_cpu_s", 0.0),
        "import_cpu_ms": 1000 * result["import_cpu_s"],
        "requests_per_item": counts["requests"] / items,
        "bytes_per_item": counts["bytes_received"] / items,
        "bytes_sent_per_item": counts["bytes_sent"] / items,
        "websocket_bytes_per_item": counts["websocket_bytes_received"] / items,
        "peak_rss_mb": result["peak_rss_mb"],
    }
    if prompts:
        figures["cpu_ms_per_prompt"] = 1000 * result["cpu_s"] / prompts
        figures["bytes_per_prompt"] = counts["bytes_received"] / prompts
    return figures


def latency_figures(result: dict[str, Any], items: Sequence[dict[str, Any]],
                    foreign: Sequence[tuple[float, float]] = ()) -> dict[str, Any]:
    """completed_at (server) -> the client's wait returned, per job: p50, p95, max; and the lead.

    On a shared server another client's item often starts the moment ours completes and
    slows the server's answers for everyone; the ``quiet_*`` figures keep only the jobs
    with no other client's item running within a second after their completion.
    """
    done = {i["item_id"]: epoch(i["completed_at"]) for i in items}
    lags, quiet = [], []
    for job in result["jobs"]:
        completed = done[job["item_id"]]
        lag = 1000 * (job["returned"] - completed)
        lags.append(lag)
        if not any(a < completed + 1.0 and b > completed for a, b in foreign):
            quiet.append(lag)
    first = min(items, key=lambda i: i["item_id"])
    return {"p50_ms": nearest_rank(lags, 0.5), "p95_ms": nearest_rank(lags, 0.95), "max_ms": max(lags),
            "quiet_jobs": len(quiet), "quiet_p50_ms": nearest_rank(quiet, 0.5) if quiet else None,
            "quiet_p95_ms": nearest_rank(quiet, 0.95) if quiet else None,
            "lead_ms": 1000 * (epoch(first["started_at"]) - result["t0"])}


def sweep_figures(result: dict[str, Any], at_enqueued: dict[str, Any]) -> dict[str, Any]:
    """Requests and time from a fresh client until every variant is enqueued."""
    return {
        "items": len(result["item_ids"]),
        "requests": at_enqueued["requests"],
        "enqueue_requests": at_enqueued["routes"].get(ENQUEUE, 0),
        "seconds": result["enqueued"] - result["t0"],
        "submit_seconds": result["enqueued"] - result["first_submit"],
        "bytes_sent": at_enqueued["bytes_sent"],
        "bytes_received": at_enqueued["bytes_received"],
    }


def download_figures(result: dict[str, Any], counts: dict[str, Any]) -> dict[str, Any]:
    rss = result["rss_mb"]
    return {
        "peak_rss_mb": result["peak_rss_mb"], "baseline_rss_mb": rss["baseline"],
        "peak_over_baseline_mb": result["peak_rss_mb"] - rss["baseline"],
        "rss_growth_mb": rss["end"] - rss["early"], "seconds": result["seconds"],
        "requests": counts["requests"], "mb_received": counts["bytes_received"] / 2**20,
    }


# --- over repetitions ---------------------------------------------------------------------------


def collect(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """"<workload>.<figure>" -> variant -> values over repetitions (e.g. ["chain.busy"]["peer"])."""
    by: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        workload, variant = run["name"].split(".", 1)
        for figure, value in (run.get("figures") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                by.setdefault(f"{workload}.{figure}", {}).setdefault(variant, []).append(float(value))
    return by


def ratios(runs: Sequence[dict[str, Any]], figure: str, pairs: dict[str, tuple[str, str]]) -> dict[str, list[float]]:
    """figure(a) / figure(b) within each repetition, for each named (a, b) pair of run names."""
    out: dict[str, list[float]] = {}
    for rep in sorted({run["rep"] for run in runs}):
        value = {run["name"]: run["figures"][figure] for run in runs
                 if run["rep"] == rep and figure in (run.get("figures") or {})}
        for key, (a, b) in pairs.items():
            if a in value and b in value and value[b]:
                out.setdefault(key, []).append(value[a] / value[b])
    return out


CHAIN = ("ours_scheduled", "ours_scheduled_polling", "ours_staged", "ours_fused", "peer", "peer_tuned", "floor",
         "floor_fused")
LATENCY = ("ours", "ours_polling", "peer", "peer_tuned")
SHARED = ("ours", "ours_polling", "peer")
COST = {"ours": "ours_scheduled", "ours_polling": "ours_scheduled_polling", "ours_staged": "ours_staged",
        "ours_fused": "ours_fused", "peer": "peer", "peer_tuned": "peer_tuned"}


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The result file's figures: the median over repetitions, with [min, max] in ``range``."""
    by = collect(runs)
    out: dict[str, Any] = {}
    spread: dict[str, list[float]] = {}

    def put(path: str, values: list[float] | None, digits: int) -> None:
        if not values:
            return
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = round(statistics.median(values), digits)
        spread[path] = [round(min(values), digits), round(max(values), digits)]

    def group(path: str, source: str, variants: dict[str, str] | Sequence[str], digits: int) -> None:
        pairs = variants.items() if isinstance(variants, dict) else ((v, v) for v in variants)
        for key, variant in pairs:
            put(f"{path}.{key}", by.get(source, {}).get(variant), digits)

    for figure, digits in (("busy", 4), ("busy_excluding_foreign", 4), ("idle_ms_per_item", 1), ("wall_s", 2),
                           ("foreign_busy_s", 2), ("items", 0)):
        group(f"chain.{figure}", f"chain.{figure}", CHAIN, digits)
    walls = ratios(runs, "wall_s", {
        "scheduled_vs_peer": ("chain.ours_scheduled", "chain.peer"),
        "scheduled_vs_peer_tuned": ("chain.ours_scheduled", "chain.peer_tuned"),
        "fused_vs_peer_tuned": ("chain.ours_fused", "chain.peer_tuned"),
        "scheduled_vs_floor": ("chain.ours_scheduled", "chain.floor"),
        "staged_vs_peer": ("chain.ours_staged", "chain.peer"),
        "fused_vs_floor_fused": ("chain.ours_fused", "chain.floor_fused"),
    })
    for key, values in walls.items():
        put(f"chain.wall_ratio.{key}", values, 3)
    group("lead_ms", "chain.lead_ms", {"ours": "ours_scheduled", "ours_fused": "ours_fused", "peer": "peer",
                                       "peer_tuned": "peer_tuned", "floor": "floor"}, 1)
    group("lead_foreign_ms", "chain.lead_foreign_ms", {"ours": "ours_scheduled", "peer": "peer"}, 1)
    group("lead_ms_single_job", "latency.lead_ms", LATENCY, 1)
    group("latency.p50_ms", "latency.p50_ms", LATENCY, 1)
    group("latency.p95_ms", "latency.p95_ms", LATENCY, 1)
    group("latency.max_ms", "latency.max_ms", LATENCY, 1)
    group("latency.foreign_busy_s", "latency.foreign_busy_s", LATENCY, 2)
    group("latency.quiet_jobs", "latency.quiet_jobs", LATENCY, 0)
    group("latency.quiet_p50_ms", "latency.quiet_p50_ms", LATENCY, 1)
    group("latency.quiet_p95_ms", "latency.quiet_p95_ms", LATENCY, 1)
    for figure, digits in (("cpu_ms_per_item", 1), ("cpu_ms_per_prompt", 1), ("setup_cpu_ms", 1),
                           ("import_cpu_ms", 1), ("bytes_per_item", 0), ("websocket_bytes_per_item", 0),
                           ("bytes_sent_per_item", 0), ("requests_per_item", 2)):
        group(f"client.{figure}", f"chain.{figure}", COST, digits)
    for figure, digits in (("cpu_ms_per_item", 1), ("bytes_per_item", 0), ("requests_per_item", 2)):
        group(f"client.{figure}_shared", f"shared.{figure}", SHARED, digits)
    group("client.shared_foreign_busy_s", "shared.foreign_busy_s", SHARED, 2)
    group("client.cpu_ms_per_item_latency", "latency.cpu_ms_per_item", LATENCY, 1)
    for figure, digits in (("requests", 0), ("enqueue_requests", 0), ("seconds", 3), ("submit_seconds", 3),
                           ("items", 0)):
        group(f"sweep.{figure}", f"sweep.{figure}", ("ours", "peer"), digits)
    enqueue = ratios(runs, "seconds", {"ours_vs_peer": ("sweep.ours", "sweep.peer")})
    put("sweep.enqueue_ratio", enqueue.get("ours_vs_peer"), 4)
    for figure, digits in (("peak_rss_mb", 1), ("baseline_rss_mb", 1), ("peak_over_baseline_mb", 1),
                           ("rss_growth_mb", 2), ("seconds", 2), ("requests", 0), ("mb_received", 1)):
        group(f"download.{figure}", f"download.{figure}", ("ours", "ours_bytes", "peer"), digits)
    out["range"] = spread
    return out


def _get(summary: dict[str, Any], path: str) -> float | None:
    node: Any = summary
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) else None


def targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for ours against this run's own figures (medians): met or missed, by how much."""
    checks: list[tuple[str, str, str, float | str, str]] = [
        # (target, figure, comparison, limit: a number or another figure, unit)
        ("chain busy fraction >= 0.98 (scheduled)", "chain.busy.ours_scheduled", ">=", 0.98, ""),
        ("chain busy fraction >= 0.98 (fused)", "chain.busy.ours_fused", ">=", 0.98, ""),
        ("idle per item <= 1.5x the floor's (scheduled)", "chain.idle_ms_per_item.ours_scheduled", "<=",
         "1.5*chain.idle_ms_per_item.floor", "ms"),
        ("idle per item <= 1.5x the floor's (fused)", "chain.idle_ms_per_item.ours_fused", "<=",
         "1.5*chain.idle_ms_per_item.floor_fused", "ms"),
        ("first submit -> first item starts <= 50 ms", "lead_ms.ours", "<=", 50.0, "ms"),
        ("latency p50 <= 25 ms", "latency.p50_ms.ours", "<=", 25.0, "ms"),
        ("latency p95 <= 40 ms", "latency.p95_ms.ours", "<=", 40.0, "ms"),
        ("client CPU per item <= 1.1.1 defaults", "client.cpu_ms_per_item.ours", "<=",
         "client.cpu_ms_per_item.peer", "ms"),
        ("client CPU per item <= 1.1.1 defaults (polling)", "client.cpu_ms_per_item.ours_polling", "<=",
         "client.cpu_ms_per_item.peer", "ms"),
        ("client CPU per item <= 1.1.1 on a shared server", "client.cpu_ms_per_item_shared.ours", "<=",
         "client.cpu_ms_per_item_shared.peer", "ms"),
        ("bytes per item, socket-free <= 1.1.1 poll 0.1 s", "client.bytes_per_item.ours_polling", "<=",
         "client.bytes_per_item.peer_tuned", "B"),
        ("sweep: 1 enqueue request for all variants", "sweep.enqueue_requests.ours", "<=", 1.0, ""),
        ("sweep: time to enqueue <= 1/10 of 1.1.1's", "sweep.enqueue_ratio", "<=", 0.1, "x"),
        ("download memory flat (growth < one 3 MiB image)", "download.rss_growth_mb.ours", "<", 3.0, "MiB"),
    ]
    out = []
    for name, figure, op, limit, unit in checks:
        value = _get(summary, figure)
        if isinstance(limit, str):
            factor, _, ref = limit.rpartition("*")
            base = _get(summary, ref)
            bound = None if base is None else base * (float(factor) if factor else 1.0)
        else:
            bound = limit
        if value is None or bound is None:
            continue
        met = {">=": value >= bound, "<=": value <= bound, "<": value < bound}[op]
        out.append({"target": name, "figure": figure, "value": round(value, 4), "limit": round(bound, 4),
                    "unit": unit, "met": met, "off_by": None if met else round(value - bound, 4)})
    return out
