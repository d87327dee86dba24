"""`make bench`: our client and invokeai-py-client 1.1.1 side by side on the same server.

    .venv/bin/python benchmarks/bench.py [--url URL] [--reps 3] [--quick] [--only chain,latency,...]

Each client runs in a process of its own (both packages are named ``invokeai_py_client``):
ours from this venv (`workload_ours.py`), the peer from ``benchmarks/.peer-venv``
(`workload_peer.py`, PyPI's 1.1.1), the floor and the shared-server load as raw HTTP
(`workload_raw.py`). Every client process talks to the server through a counting proxy
of its own (`proxy.py`), so requests and bytes are counted the same way for all; CPU and
peak memory are the client process's own (getrusage); queue item timestamps
(``started_at``/``completed_at``) are read back from the server afterwards.

Workloads (64x64, 4 steps, tiny models; every node uncached so every item really runs):

1. chain: N prompts x base -> refine -> upscale. Ours: scheduled (EfficientRefiner's
   streaming pipeline, with events and with polling), staged (MultiStageRefiner, one job at
   a time) and fused (chain_workflows, one queue item per prompt, one request). Peer: the
   seed's sequential flow at 1.1.1's defaults and with poll 0.1 s. Floor: the graphs of
   this repetition's staged runs (and of the fused run) re-enqueued at once with raw HTTP.
2. latency: single jobs one after the other; completed_at -> wait returns.
3. sweep: variants of one workflow from a fresh client: requests and time until enqueued
   (then canceled, never run).
4. client cost: CPU and bytes per queue item in the chain, and again while another
   process keeps jobs of its own on the same server.
5. download: peak RSS while downloading full-size images many times.

Variants alternate ours/peer and the order flips every repetition; figures are the median
over repetitions with min/max. Writes benchmarks/results/latest.json, then `report.py`
draws latest.png and rewrites README.md's "Measured" table from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from figures import (
    chain_figures,
    cost_figures,
    download_figures,
    epoch,
    latency_figures,
    summarize,
    sweep_figures,
    targets,
    union,
)
from proxy import CountingProxy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
PEER_PYTHON = HERE / ".peer-venv" / "bin" / "python"
PEER_VERSION = "1.1.1"
STAGES = ("sdxl_base.json", "sdxl_refiner.json", "esrgan_upscale.json")
PARAMS = {"seed": 42, "steps": 4, "width": 64, "height": 64, "refiner_steps": 4, "refiner_strength": 0.5,
          "scale": 2}
TIMEOUT = 900.0
TERMINAL = ("completed", "failed", "canceled")


def log(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# --- the server, directly (never through a proxy) -----------------------------------------------


class Server:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=120)
        self.queue = "/api/v1/queue/default"

    def version(self) -> str:
        return str(self.http.get("/api/v1/app/version").json()["version"])

    def item(self, item_id: int) -> dict[str, Any]:
        answer = self.http.get(f"{self.queue}/i/{item_id}")
        answer.raise_for_status()
        return dict(answer.json())

    def finished_items(self, item_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Each item in full (GET /i/{id}); waits briefly for stragglers, fails on failures."""
        items = [self.item(i) for i in item_ids]
        for k, item in enumerate(items):
            deadline = time.time() + 60
            while item["status"] not in TERMINAL and time.time() < deadline:
                time.sleep(0.2)
                item = items[k] = self.item(item["item_id"])
            if item["status"] != "completed":
                raise RuntimeError(f"queue item {item['item_id']} ended {item['status']}: "
                                   f"{item.get('error_type')} {item.get('error_message')}")
        return items

    def foreign_spans(self, ours: Sequence[int]) -> list[tuple[float, float]]:
        """Run spans of other clients' items near ours (they share the server's one worker)."""
        mine = set(ours)
        ids = self.http.get(f"{self.queue}/item_ids", params={"order_dir": "DESC"}).json()["item_ids"]
        lowest = min(mine) - 50
        candidates = [i for i in ids if i >= lowest and i not in mine][:1000]
        spans = []
        for k in range(0, len(candidates), 200):
            rows = self.http.post(f"{self.queue}/item_summaries_by_ids",
                                  json={"item_ids": candidates[k:k + 200]}).json()
            for row in rows:
                if row.get("started_at"):
                    end = epoch(row["completed_at"]) if row.get("completed_at") else time.time()
                    spans.append((epoch(row["started_at"]), end))
        return spans

    def cancel_batches(self, batch_ids: Sequence[str]) -> None:
        if batch_ids:
            self.http.put(f"{self.queue}/cancel_by_batch_ids", json={"batch_ids": list(batch_ids)})

    def cancel_destination(self, destination: str) -> None:
        self.http.put(f"{self.queue}/cancel_by_destination", params={"destination": destination})

    def destination_images(self, destination: str) -> list[str]:
        """The images that the items of `destination` made (the shared load's, to delete)."""
        rows = self.http.get(f"{self.queue}/list_all", params={"destination": destination}).json()
        finished = [row["item_id"] for row in rows if row.get("status") == "completed"]
        return [name for i in finished for name in output_images(self.item(i))]

    def delete_images(self, names: Sequence[str]) -> None:
        for k in range(0, len(names), 100):
            self.http.post("/api/v1/images/delete", json={"image_names": list(names[k:k + 100])})


def output_images(item: dict[str, Any]) -> list[str]:
    results = (item.get("session") or {}).get("results") or {}
    return [r["image"]["image_name"] for r in results.values() if isinstance(r, dict) and "image" in r]


def reenqueue_body(item: dict[str, Any], destination: str) -> dict[str, Any]:
    """The graph an item ran, as a fresh one-run batch (the floor's input)."""
    return {"prepend": False, "batch": {"graph": item["session"]["graph"], "runs": 1,
                                        "origin": "invokeai-py-bench", "destination": destination}}


# --- preparation --------------------------------------------------------------------------------


def prepare_workflows(server: Server, ours_src: Path, dest: Path) -> None:
    """The bundled stage workflows with every node uncached and models pointed at installed ones.

    Uncached, so repetitions and clients never get the invocation cache's answer for
    free; the models as a GUI export from this server would have them (1.1.1 cannot
    re-match models here, see workload_peer.py).
    """
    models = server.http.get("/api/v2/models/").json()["models"]
    dest.mkdir(parents=True, exist_ok=True)
    for name in STAGES:
        doc = json.loads((ours_src / "invokeai_py_client" / "workflows" / name).read_text(encoding="utf-8"))
        for node in doc["nodes"]:
            data = node.get("data") or {}
            if "inputs" not in data:
                continue
            data["useCache"] = False
            for field in data["inputs"].values():
                value = field.get("value")
                if isinstance(value, dict) and "key" in value:
                    field["value"] = pick_model(models, value)
        (dest / name).write_text(json.dumps(doc, indent=2), encoding="utf-8")


def pick_model(models: Sequence[dict[str, Any]], ref: dict[str, Any]) -> dict[str, Any]:
    same = [m for m in models if m["name"] == ref.get("name")] or [
        m for m in models if m["base"] == ref.get("base") and m["type"] == ref.get("type")]
    if not same:
        raise RuntimeError(f"no installed model for {ref.get('name')!r} ({ref.get('base')}/{ref.get('type')})")
    m = same[0]
    return {"key": m["key"], "hash": m["hash"], "name": m["name"], "base": m["base"], "type": m["type"]}


def make_download_images(server: Server, count: int) -> tuple[str, list[str]]:
    """A board of `count` full-size images: 1024x1024 PNGs of random pixels (3 MiB each).

    Uploaded, not generated: the tiny models' images compress to ~40 KB, far below a real
    SDXL image (1.5-2 MB), and the point is what holding an image costs the client.
    """
    from PIL import Image

    board = server.http.post("/api/v1/boards/", params={
        "board_name": f"invokeai-py-bench downloads {uuid.uuid4().hex[:8]}", "is_private": "false"})
    board.raise_for_status()
    board_id = str(board.json()["board_id"])
    names = []
    for k in range(count):
        png = io.BytesIO()
        Image.frombytes("RGB", (1024, 1024), os.urandom(3 * 1024 * 1024)).save(png, "PNG")
        answer = server.http.post("/api/v1/images/upload", params={
            "image_category": "user", "is_intermediate": "false", "board_id": board_id,
        }, files={"file": (f"bench-{k}.png", png.getvalue(), "image/png")})
        answer.raise_for_status()
        names.append(str(answer.json()["image_name"]))
    return board_id, names


def export_ours(ref: str | None) -> tuple[Path, str]:
    """Where our package's source is imported from, and what it is.

    None: the working tree (what `make bench` measures). A git ref: that commit's
    ``src/`` exported under .work/ (unaffected by edits in progress; compare two refs).
    """
    git = ["git", "-C", str(ROOT)]
    if ref is None:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "src"], capture_output=True,
                               text=True).stdout.strip()
        return ROOT / "src", f"working tree at {head}" + (" with uncommitted changes in src/" if dirty else "")
    sha = subprocess.run([*git, "rev-parse", "--verify", f"{ref}^{{commit}}"], capture_output=True, text=True,
                         check=True).stdout.strip()
    dest = WORK / "ours" / sha[:12]
    if not (dest / "src" / "invokeai_py_client").is_dir():
        archive = subprocess.run([*git, "archive", "--format=tar", sha, "src/invokeai_py_client"],
                                 capture_output=True, check=True).stdout
        shutil.rmtree(dest, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    return dest / "src", f"git {sha[:12]} ({ref})"


def ensure_peer() -> None:
    if PEER_PYTHON.exists():
        return
    log(f"installing invokeai-py-client=={PEER_VERSION} into {PEER_PYTHON.parent.parent}")
    subprocess.run(["python3", "-m", "venv", str(PEER_PYTHON.parent.parent)], check=True)
    subprocess.run([str(PEER_PYTHON), "-m", "pip", "install", "-q", f"invokeai-py-client=={PEER_VERSION}"],
                   check=True)


# --- running client processes -------------------------------------------------------------------


class Bench:
    """One repetition's runs: workload processes, each behind a counting proxy of its own."""

    def __init__(self, server: Server, workflows: Path, ours_src: Path, rep: int, reverse: bool = False) -> None:
        self.server = server
        self.ours_src = ours_src
        self.workflows = workflows
        self.rep = rep
        self.reverse = reverse
        self.runs: list[dict[str, Any]] = []
        self.images: list[str] = []
        """Images the runs made, deleted at the end of the repetition (the floor re-runs graphs using them)."""

    def ordered(self, variants: Sequence[Any]) -> list[Any]:
        """Ours/peer alternate; every other repetition runs them in the reverse order."""
        return list(reversed(variants)) if self.reverse else list(variants)

    def start(self, client: str, spec: dict[str, Any]) -> subprocess.Popen[str]:
        python, script = {
            "ours": (sys.executable, "workload_ours.py"),
            "peer": (str(PEER_PYTHON), "workload_peer.py"),
            "raw": (sys.executable, "workload_raw.py"),
        }[client]
        spec = {"workflows": str(self.workflows), "params": PARAMS, "timeout": TIMEOUT, **spec}
        path = WORK / "specs" / f"{uuid.uuid4().hex}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec), encoding="utf-8")
        log_file = WORK / "logs" / f"{path.stem}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKEAI") and k != "PYTHONPATH"}
        if client == "ours":
            env["PYTHONPATH"] = str(self.ours_src)  # ahead of the venv's editable install
        with log_file.open("w", encoding="utf-8") as stderr:
            return subprocess.Popen([python, str(HERE / script), str(path)], cwd=WORK, env=env, text=True,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)

    def run(self, name: str, client: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Run one workload process to its end; its record (result, proxy counts, marks, load)."""
        load_before = os.getloadavg()
        proxy = CountingProxy.to_url(self.server.url).start()
        started = time.time()
        try:
            proc = self.start(client, {**spec, "url": proxy.url})
            marks: dict[str, Any] = {}
            result: dict[str, Any] | None = None
            assert proc.stdout is not None and proc.stdin is not None
            for line in proc.stdout:
                if line.startswith("MARK "):
                    marks[line[5:].strip()] = proxy.snapshot()
                    proc.stdin.write("\n")
                    proc.stdin.flush()
                elif line.startswith("RESULT "):
                    result = json.loads(line[7:])
            code = proc.wait()
            counts = proxy.snapshot()
        finally:
            proxy.stop()
        if code != 0 or result is None:
            spec_file = Path(str(proc.args[-1]))  # type: ignore[index]
            text = (WORK / "logs" / f"{spec_file.stem}.log").read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"{name} ({client}) exited {code}:\n{text[-3000:]}")
        record = {"name": name, "client": client, "rep": self.rep, "started": started,
                  "seconds": time.time() - started, "load_before": [round(x, 2) for x in load_before],
                  "load_after": [round(x, 2) for x in os.getloadavg()], "proxy": counts, "marks": marks,
                  "result": result}
        self.runs.append(record)
        log(f"  {name:<30} {record['seconds']:6.1f} s {counts['requests']:5d} requests "
            f"{counts['bytes_received'] / 1024:8.0f} KiB in  cpu {result['cpu_s']:.2f} s")
        return record

    def finished(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        items = self.server.finished_items(run["result"]["item_ids"])
        self.images += [name for item in items for name in output_images(item)]
        return items

    # --- workloads ---

    def chain(self, prompts: list[str]) -> None:
        """The chain in every mode, then the floors (this repetition's graphs enqueued at once)."""
        variants: list[tuple[str, str, dict[str, Any]]] = [
            ("ours_scheduled", "ours", {"mode": "scheduled"}),
            ("peer", "peer", {"poll": None}),
            ("ours_fused", "ours", {"mode": "fused"}),
            ("peer_tuned", "peer", {"poll": 0.1}),
            ("ours_staged", "ours", {"mode": "staged"}),
            ("ours_scheduled_polling", "ours", {"mode": "scheduled", "use_events": False}),
        ]
        items: dict[str, list[dict[str, Any]]] = {}
        for name, client, extra in self.ordered(variants):
            items[name] = self.chain_run(f"chain.{name}", client, {"prompts": prompts, **extra}, len(prompts))
        for name, source in (("floor", "ours_staged"), ("floor_fused", "ours_fused")):
            tag = f"invokeai-py-bench:{uuid.uuid4().hex}"
            bodies = [reenqueue_body(item, tag) for item in items[source]]
            self.chain_run(f"chain.{name}", "raw", {"workload": "floor", "bodies": bodies}, len(prompts))

    def chain_run(self, name: str, client: str, spec: dict[str, Any], prompts: int) -> list[dict[str, Any]]:
        run = self.run(name, client, {"workload": "chain", **spec})
        items = self.finished(run)
        foreign = self.server.foreign_spans(run["result"]["item_ids"])
        run["figures"] = {**chain_figures(run["result"]["t0"], items, foreign),
                          **cost_figures(run["result"], run["proxy"], len(items), prompts)}
        return items

    def shared(self, prompts: list[str], load_graph: dict[str, Any]) -> None:
        """The chain while another process keeps two jobs of its own pending on the same server."""
        tag = f"invokeai-py-bench-load:{uuid.uuid4().hex}"
        body = {"prepend": False, "batch": {"graph": load_graph, "runs": 1, "origin": "invokeai-py-bench",
                                            "destination": tag}}
        loader = self.start("raw", {"workload": "load", "url": self.server.url, "body": body, "depth": 2,
                                    "destination": tag})
        try:
            assert loader.stdout is not None and loader.stdin is not None
            loader.stdout.readline()  # MARK loading
            time.sleep(2.0)  # its first jobs are queued and running
            variants = [("ours", "ours", {"mode": "scheduled"}), ("peer", "peer", {"poll": None}),
                        ("ours_polling", "ours", {"mode": "scheduled", "use_events": False})]
            for name, client, extra in self.ordered(variants):
                self.chain_run(f"shared.{name}", client, {"prompts": prompts, **extra}, len(prompts))
            loader.stdin.write("\n")
            loader.stdin.flush()
            loader.wait(timeout=120)
        finally:
            if loader.poll() is None:
                loader.kill()
            self.server.cancel_destination(tag)
            self.images += self.server.destination_images(tag)

    def latency(self, prompts: list[str], jobs: int) -> None:
        variants = [("ours", "ours", {}), ("peer", "peer", {"poll": None}),
                    ("ours_polling", "ours", {"use_events": False}), ("peer_tuned", "peer", {"poll": 0.1})]
        for name, client, extra in self.ordered(variants):
            run = self.run(f"latency.{name}", client, {"workload": "latency", "prompts": prompts, "jobs": jobs,
                                                       **extra})
            items = self.finished(run)
            foreign = self.server.foreign_spans(run["result"]["item_ids"])
            end = max(epoch(i["completed_at"]) for i in items)
            run["figures"] = {**latency_figures(run["result"], items, foreign),
                              **cost_figures(run["result"], run["proxy"], len(items)),
                              "foreign_busy_s": union(foreign, (run["result"]["t0"], end))}

    def sweep(self, variants: int) -> None:
        for name in self.ordered(["ours", "peer"]):
            tag = f"invokeai-py-bench-sweep:{uuid.uuid4().hex}"
            try:
                run = self.run(f"sweep.{name}", name, {"workload": "sweep", "variants": variants,
                                                       "destination": tag})
            finally:
                self.server.cancel_destination(tag)  # the client cancels them too; this is the safety net
            self.server.cancel_batches(run["result"]["batch_ids"])
            run["figures"] = sweep_figures(run["result"], run["marks"]["enqueued"])

    def download(self, board_id: str, names: list[str], count: int) -> None:
        variants = [("ours", "ours", {"mode": "file"}), ("peer", "peer", {}),
                    ("ours_bytes", "ours", {"mode": "bytes"})]
        for name, client, extra in self.ordered(variants):
            run = self.run(f"download.{name}", client, {"workload": "download", "images": names,
                                                        "board_id": board_id, "count": count,
                                                        "early": min(20, count), **extra})
            run["figures"] = download_figures(run["result"], run["proxy"])


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"host": platform.node(), "os": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version()}


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


# --- main -----------------------------------------------------------------------------------------

BLOCKS = ("chain", "shared", "latency", "sweep", "download")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("INVOKEAI_URL", "http://127.0.0.1:9090"))
    parser.add_argument("--reps", type=int, default=3, help="repetitions (>= 3 for results; --quick: 1)")
    parser.add_argument("--quick", action="store_true",
                        help="development: 1 repetition, 2 prompts, 5 latency jobs, 20 variants, 20 downloads")
    parser.add_argument("--only", default=",".join(BLOCKS), help=f"comma-separated subset of {','.join(BLOCKS)}")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument("--no-report", action="store_true", help="skip the chart and the README table")
    parser.add_argument("--ours-ref", default=None, metavar="GIT_REF",
                        help="measure our client at this commit (its src/ exported into .work/) instead of "
                             "the working tree")
    args = parser.parse_args()
    blocks = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(blocks) - set(BLOCKS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {BLOCKS}")
    reps = 1 if args.quick else args.reps
    size = ({"prompts": 2, "jobs": 5, "variants": 20, "downloads": 20} if args.quick
            else {"prompts": 8, "jobs": 30, "variants": 200, "downloads": 200})
    if args.quick and args.out == HERE / "results" / "latest.json":
        args.out = WORK / "quick.json"  # development runs never overwrite the committed results
        args.no_report = True

    ensure_peer()
    peer_version = subprocess.run([str(PEER_PYTHON), "-c", "import importlib.metadata as m; "
                                   "print(m.version('invokeai-py-client'))"], capture_output=True, text=True,
                                  check=True).stdout.strip()
    for stale in ("specs", "logs"):
        shutil.rmtree(WORK / stale, ignore_errors=True)
    server = Server(args.url)
    version = server.version()
    load_start = os.getloadavg()
    started = dt.datetime.now(dt.UTC)
    log(f"server {args.url} (InvokeAI {version}), peer {peer_version}, {reps} repetition(s), "
        f"load {[round(x, 2) for x in load_start]}")
    ours_src, ours_source = export_ours(args.ours_ref)
    log(f"ours: {ours_source}")
    workflows = WORK / "workflows"
    prepare_workflows(server, ours_src, workflows)
    prompts = [f"bench prompt {k}: a lighthouse on a cliff at dusk" for k in range(size["prompts"])]
    runs: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    warm = Bench(server, workflows, ours_src, -1)
    board_id = ""
    try:
        log("warm-up (not measured): models loaded, both clients' code paths run once")
        warm.finished(warm.run("warmup.ours", "ours", {"workload": "chain", "mode": "fused",
                                                         "prompts": prompts[:1]}))
        run = warm.run("warmup.peer", "peer", {"workload": "latency", "prompts": prompts[:1], "jobs": 1,
                                               "poll": 0.1})
        load_graph = warm.finished(run)[0]["session"]["graph"]  # the shared server's other client runs it
        download_names: list[str] = []
        if "download" in blocks:
            board_id, download_names = make_download_images(server, 4)
        for rep in range(reps):
            bench = Bench(server, workflows, ours_src, rep, reverse=rep % 2 == 1)
            log(f"repetition {rep + 1}/{reps} ({'peer' if bench.reverse else 'ours'} first)")
            steps: dict[str, Callable[[], None]] = {
                "chain": lambda b=bench: b.chain(prompts),
                "shared": lambda b=bench: b.shared(prompts, load_graph),
                "latency": lambda b=bench: b.latency(prompts, size["jobs"]),
                "sweep": lambda b=bench: b.sweep(size["variants"]),
                "download": lambda b=bench: b.download(board_id, download_names, size["downloads"]),
            }
            for block in blocks:
                # Other clients of a shared server may clear the queue under a run: a block that
                # fails is run again once, its partial runs discarded (and listed in errors).
                for attempt in (1, 2):
                    done = len(bench.runs)
                    try:
                        steps[block]()
                        break
                    except (RuntimeError, httpx.HTTPError, subprocess.SubprocessError) as exc:
                        discarded = [run["name"] for run in bench.runs[done:]]
                        del bench.runs[done:]
                        log(f"  {block} failed in repetition {rep + 1} (attempt {attempt}): {str(exc)[:300]}")
                        errors.append({"rep": rep, "workload": block, "attempt": attempt,
                                       "discarded_runs": discarded, "error": str(exc)[-2000:]})
            runs += bench.runs
            server.delete_images(bench.images)
    finally:
        server.delete_images(warm.images)
        if board_id:
            server.http.delete(f"/api/v1/boards/{board_id}", params={"include_images": "true"})

    summary = summarize(runs)
    report = {
        "machine": machine(), "date": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "server_version": version, "peer_version": peer_version, "ours_commit": git_commit(),
        "ours_source": ours_source,
        "server": args.url,
        "load": {"before": [round(x, 2) for x in load_start], "after": [round(x, 2) for x in os.getloadavg()],
                 "note": "os.getloadavg() (1, 5, 15 min). The machine is shared with other engineers' tests; "
                         "each run's load and the server time other clients' items took inside its window "
                         "(foreign_busy_s) are in runs[]"},
        "config": {"repetitions": reps, "quick": args.quick, "workloads": blocks, "params": PARAMS, **size},
        **summary,
        "targets": targets(summary),
        "errors": errors,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    log(f"wrote {args.out}")
    if not args.no_report:
        import report as report_module

        report_module.render(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
