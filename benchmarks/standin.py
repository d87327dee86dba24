"""A loopback stand-in for an InvokeAI server's queue, for throughput simulation only.

It speaks the part of the HTTP API a `ServerPool` uses (app version, model list,
enqueue_batch with batch data, queue status, items by id / by destination / by batch,
item ids, cancel by item / batch / destination) and runs ONE item at a time, like a
GPU, each taking a configurable service time. It never executes a graph: a finished
item's session lists a made-up image for each saved (non-intermediate) node. Clients
follow it by polling (`use_events=False`): it has no Socket.IO.

Never used in place of the real server in tests of behaviour: those run against real
InvokeAI instances. Modes per server: `seconds` per item, `fail_every` (every n-th
item fails), `die_after` (seconds after start: stops answering and processing, as a
SIGKILLed server would).

    python benchmarks/standin.py '[{"seconds": 0.05}, {"seconds": 0.1}]'   # prints a URL per server

Each line `die N` on its stdin kills server N; closing its stdin ends them all.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

VERSION = "6.14.2"
Q = "/api/v1/queue/default"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@dataclass
class Mode:
    """How a stand-in behaves."""

    seconds: float = 0.05
    """Service time per item (one item at a time)."""
    fail_every: int = 0
    """Every n-th item fails (0: none)."""
    die_after: float | None = None
    """Seconds after start when it stops answering and processing."""
    models: list[dict[str, Any]] = field(default_factory=list)
    """Its installed models (the model list's records)."""


class Queue:
    """The queue of one stand-in: items, and a worker running one at a time."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.lock = threading.Condition()
        self.items: dict[int, dict[str, Any]] = {}
        self.next_id = 1
        self.ran = 0
        self.dead = False
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()

    # -- running items ---------------------------------------------------------------

    def _next_pending(self) -> dict[str, Any] | None:
        pending = [i for i in self.items.values() if i["status"] == "pending"]
        return min(pending, key=lambda i: (-i["priority"], i["item_id"])) if pending else None

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.dead and (item := self._next_pending()) is None:
                    self.lock.wait()
                if self.dead:
                    return
                item["status"], item["started_at"] = "in_progress", _now()
                self.ran += 1
                number = self.ran
            ends = time.monotonic() + self.mode.seconds
            with self.lock:
                while item["status"] == "in_progress" and not self.dead and (left := ends - time.monotonic()) > 0:
                    self.lock.wait(left)
                if self.dead:
                    return
                if item["status"] != "in_progress":
                    continue  # canceled meanwhile
                item["completed_at"] = item["updated_at"] = _now()
                if self.mode.fail_every and number % self.mode.fail_every == 0:
                    item.update(status="failed", error_type="StandInError", error_message="failing mode")
                else:
                    item.update(status="completed", session=_finished_session(item))

    def die(self) -> None:
        with self.lock:
            self.dead = True
            self.lock.notify_all()

    # -- the API ---------------------------------------------------------------------

    def enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        batch = body["batch"]
        priority = 1 if body.get("prepend") else 0
        ids = []
        with self.lock:
            for values in _expand(batch):
                item_id, self.next_id = self.next_id, self.next_id + 1
                self.items[item_id] = {
                    "item_id": item_id, "status": "pending", "priority": priority, "batch_id": batch["batch_id"],
                    "origin": batch.get("origin"), "destination": batch.get("destination"), "queue_id": "default",
                    "session_id": str(uuid.uuid4()), "error_type": None, "error_message": None,
                    "error_traceback": None, "created_at": _now(), "updated_at": _now(), "started_at": None,
                    "completed_at": None, "field_values": values, "graph": batch["graph"],
                    "workflow": batch.get("workflow"), "session": None,
                }
                ids.append(item_id)
            self.lock.notify_all()
        return {"queue_id": "default", "enqueued": len(ids), "requested": len(ids), "batch": batch,
                "priority": priority, "item_ids": sorted(ids, reverse=True)}

    def full(self, item: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in item.items() if k != "graph"}
        out["session"] = item["session"] or {"id": item["session_id"], "graph": item["graph"], "results": {},
                                             "source_prepared_mapping": {}}
        return out

    @staticmethod
    def summary(item: dict[str, Any]) -> dict[str, Any]:
        keys = ("item_id", "status", "priority", "batch_id", "origin", "destination", "queue_id", "session_id",
                "error_type", "error_message", "created_at", "updated_at", "started_at", "completed_at")
        return {k: item[k] for k in keys}

    def counts(self, items: list[dict[str, Any]]) -> dict[str, int]:
        counts = {s: 0 for s in ("pending", "in_progress", "waiting", "completed", "failed", "canceled")}
        for item in items:
            counts[item["status"]] = counts.get(item["status"], 0) + 1
        counts["total"] = len(items)
        return counts

    def cancel(self, items: list[dict[str, Any]]) -> int:
        canceled = 0
        for item in items:
            if item["status"] in ("pending", "in_progress"):
                item["status"], item["completed_at"] = "canceled", _now()
                canceled += 1
        self.lock.notify_all()
        return canceled


def _expand(batch: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The field values of each item of a batch: groups zipped inside, multiplied across, times runs."""
    groups = batch.get("data") or []
    lengths = [len(group[0]["items"]) for group in groups]
    out = []
    for _ in range(int(batch.get("runs", 1))):
        for picks in itertools.product(*(range(n) for n in lengths)):
            out.append([{"node_path": e["node_path"], "field_name": e["field_name"], "value": e["items"][k]}
                        for group, k in zip(groups, picks, strict=True) for e in group])
    return out


def _finished_session(item: dict[str, Any]) -> dict[str, Any]:
    nodes = item["graph"].get("nodes", {})
    saved = [node_id for node_id, node in nodes.items() if node.get("is_intermediate") is False]
    return {
        "id": item["session_id"], "graph": item["graph"],
        "results": {n: {"type": "image_output", "image": {"image_name": f"standin-{item['item_id']}-{n}.png"},
                        "width": 64, "height": 64} for n in saved},
        "source_prepared_mapping": {n: [n] for n in saved},
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    queue: Queue

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def _route(self, method: str) -> None:
        q = self.queue
        if q.dead:
            self.close_connection = True
            self.connection.close()
            return
        url = urlparse(self.path)
        path, params = url.path.rstrip("/"), {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self._body() if method in ("POST", "PUT") else None
        with q.lock:
            answer = self._dispatch(method, path, params, body)
        if answer is None:
            self._answer(404, {"detail": f"stand-in: no route {method} {path}"})
        else:
            self._answer(200, answer)

    def _dispatch(self, method: str, path: str, params: dict[str, str], body: Any) -> Any:
        q = self.queue
        items = q.items
        if path == "/api/v1/app/version":
            return {"version": VERSION, "highlights": []}
        if path == "/api/v2/models":
            return {"models": q.mode.models}
        if path == f"{Q}/enqueue_batch" and method == "POST":
            return q.enqueue(body)
        if path == f"{Q}/status":
            counts = q.counts(list(items.values()))
            current = next((i for i in items.values() if i["status"] == "in_progress"), None)
            return {"queue": {"queue_id": "default", **counts, "item_id": current and current["item_id"],
                              "batch_id": current and current["batch_id"],
                              "session_id": current and current["session_id"]},
                    "processor": {"is_started": True, "is_processing": current is not None}}
        if path == f"{Q}/item_summaries_by_ids":
            return [q.summary(items[i]) for i in body["item_ids"] if i in items]
        if path == f"{Q}/items_by_ids":
            return [q.full(items[i]) for i in body["item_ids"] if i in items]
        if path == f"{Q}/item_ids":
            ids = sorted(items, reverse=params.get("order_dir", "DESC") == "DESC")
            return {"item_ids": ids, "total_count": len(ids)}
        if path == f"{Q}/list_all":
            chosen = [i for i in items.values() if params.get("destination") in (None, i["destination"])]
            return [q.full(i) for i in chosen]
        if path == f"{Q}/counts_by_destination":
            chosen = [i for i in items.values() if i["destination"] == params.get("destination")]
            return {"queue_id": "default", "destination": params.get("destination"), **q.counts(chosen)}
        if path == f"{Q}/cancel_by_destination" and method == "PUT":
            return {"canceled": q.cancel([i for i in items.values() if i["destination"] == params.get("destination")])}
        if path == f"{Q}/cancel_by_batch_ids" and method == "PUT":
            return {"canceled": q.cancel([i for i in items.values() if i["batch_id"] in set(body["batch_ids"])])}
        if match := re.fullmatch(rf"{Q}/b/([^/]+)/status", path):
            chosen = [i for i in items.values() if i["batch_id"] == match[1]]
            first = chosen[0] if chosen else {}
            return {"queue_id": "default", "batch_id": match[1], "origin": first.get("origin"),
                    "destination": first.get("destination"), **q.counts(chosen)}
        if match := re.fullmatch(rf"{Q}/i/(\d+)(/cancel)?", path):
            item = items.get(int(match[1]))
            if item is None:
                return None
            if match[2] and method == "PUT":
                q.cancel([item])
            return q.full(item)
        return None


def serve(modes: list[Mode]) -> list[tuple[ThreadingHTTPServer, Queue]]:
    """Start a stand-in per mode on a free loopback port (threads of this process)."""
    servers = []
    for mode in modes:
        queue = Queue(mode)
        handler = type("BoundHandler", (Handler,), {"queue": queue})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        if mode.die_after is not None:
            threading.Timer(mode.die_after, _kill, (server, queue)).start()
        servers.append((server, queue))
    return servers


def _kill(server: ThreadingHTTPServer, queue: Queue) -> None:
    queue.die()
    server.shutdown()
    server.server_close()


def main() -> None:
    modes = [Mode(**spec) for spec in json.loads(sys.argv[1])]
    servers = serve(modes)
    for server, _ in servers:
        print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    print("READY", flush=True)
    for line in sys.stdin:  # until the driver closes our stdin
        command = line.split()
        if command[:1] == ["die"]:
            _kill(*servers[int(command[1])])


if __name__ == "__main__":
    main()
