"""Raw HTTP workloads (httpx only, no client library): the floor and the shared-server load.

    .venv/bin/python benchmarks/workload_raw.py SPEC.json

- ``floor``: the given enqueue bodies (graphs a client's run executed, read back from
  the server) POSTed back to back, then the items polled until they finish: what the
  server does when nothing waits on a client.
- ``load``: another client on a shared server: keeps ``depth`` items of its own
  pending until a line (or EOF) arrives on stdin, then cancels what is left.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import benchlib  # before the client library: it notes the CPU used before that import
import httpx

TERMINAL = ("completed", "failed", "canceled")


def floor(spec: dict[str, Any], clock: benchlib.Clock) -> dict[str, Any]:
    queue = f"{spec['url']}/api/v1/queue/default"
    with httpx.Client(timeout=60) as http:
        t0 = time.time()
        item_ids: list[int] = []
        for body in spec["bodies"]:
            answer = http.post(f"{queue}/enqueue_batch", json=body)
            answer.raise_for_status()
            item_ids += answer.json()["item_ids"]
        deadline = time.time() + spec["timeout"]
        while time.time() < deadline:
            rows = http.post(f"{queue}/item_summaries_by_ids", json={"item_ids": item_ids}).json()
            if all(row["status"] in TERMINAL for row in rows):
                break
            time.sleep(0.1)
    return clock.result(t0=t0, item_ids=sorted(item_ids))


def load(spec: dict[str, Any], clock: benchlib.Clock) -> dict[str, Any]:
    queue = f"{spec['url']}/api/v1/queue/default"
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    enqueued = 0
    with httpx.Client(timeout=60) as http:
        sys.stdout.write("MARK loading\n")
        sys.stdout.flush()
        while not stop.is_set():
            counts = http.get(f"{queue}/counts_by_destination", params={"destination": spec["destination"]}).json()
            for _ in range(spec["depth"] - counts.get("pending", 0)):
                http.post(f"{queue}/enqueue_batch", json=spec["body"]).raise_for_status()
                enqueued += 1
            stop.wait(0.2)
        http.put(f"{queue}/cancel_by_destination", params={"destination": spec["destination"]})
    return clock.result(t0=clock.wall0, item_ids=[], enqueued=enqueued)


def main() -> int:
    spec = benchlib.load_spec()
    clock = benchlib.Clock()
    benchlib.emit({"floor": floor, "load": load}[spec["workload"]](spec, clock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
