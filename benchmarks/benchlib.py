"""What every workload process shares with the driver: its spec, marks, results, CPU and memory.

Standard library only: it is imported by workloads running in our venv and in the
peer's (both packages are named ``invokeai_py_client``, so each client runs in its own
process). A workload reads its spec from the JSON file named by ``argv[1]``, prints
``MARK <name>`` and waits for the driver's acknowledgement (the driver snapshots the
proxy's counters there), and prints one ``RESULT <json>`` line at the end.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROCESS_STARTED_CPU = resource.getrusage(resource.RUSAGE_SELF)
"""CPU used before the workload imported anything (interpreter start-up)."""


def cpu_seconds() -> float:
    """User + system CPU of this process so far, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    """Resident set size now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM on Linux).

    Not ``ru_maxrss``: Linux keeps that across ``execve``, so a child forked from a big
    driver process would report the driver's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_spec() -> dict[str, Any]:
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec: dict[str, Any] = json.load(handle)
    return spec


def mark(name: str) -> None:
    """Tell the driver a phase ended and wait until it has read the proxy's counters."""
    sys.stdout.write(f"MARK {name}\n")
    sys.stdout.flush()
    sys.stdin.readline()


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


class Clock:
    """CPU and wall time of a workload, from after its imports to the end."""

    def __init__(self) -> None:
        self.cpu0 = cpu_seconds()
        self.wall0 = time.time()

    def result(self, **extra: Any) -> dict[str, Any]:
        start = PROCESS_STARTED_CPU.ru_utime + PROCESS_STARTED_CPU.ru_stime
        return {
            "cpu_s": cpu_seconds() - self.cpu0,
            "import_cpu_s": self.cpu0 - start,
            "peak_rss_mb": peak_rss_mb(),
            **extra,
        }


def stage_values(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Form values per stage workflow (labels of the bundled workflows) for the run's params."""
    return {
        "sdxl_base.json": {"Steps": params["steps"], "Width": params["width"], "Height": params["height"]},
        "sdxl_refiner.json": {"Refinement steps": params["refiner_steps"], "Strength": params["refiner_strength"]},
        "esrgan_upscale.json": {"Scale": params["scale"]},
    }


def download_loop(spec: dict[str, Any], clock: Clock, fetch: Callable[[str, Path], None]) -> dict[str, Any]:
    """`fetch(image_name, dest)` for spec["count"] downloads into a temporary directory,
    noting RSS at the start (after the caller's first request), after spec["early"]
    downloads and at the end."""
    names = spec["images"]
    rss = {"baseline": rss_mb()}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        for k in range(spec["count"]):
            fetch(names[k % len(names)], Path(tmp) / f"{k % 8}.png")
            if k + 1 == spec["early"]:
                rss["early"] = rss_mb()
        rss["end"] = rss_mb()
    return clock.result(t0=t0, seconds=time.time() - t0, rss_mb=rss, item_ids=[])
