"""Write a schema snapshot the package ships, from a real server's `/openapi.json`.

    python scripts/make_schema_snapshot.py --url http://127.0.0.1:9412        # a running server
    python scripts/make_schema_snapshot.py ../shared/reference/invokeai-6.14.2-openapi.json 6.14.2

Keeps only what the client reads (routes, invocation inputs: see `snapshot_document`)
and writes `src/invokeai_py_client/data/invokeai-<version>-openapi.json.gz`. The output
is deterministic (sorted routes, the schema's own component order, no gzip timestamp),
so re-running it on the same schema changes nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.workflow.schema_snapshot import snapshot_document

DATA_DIR = Path(__file__).resolve().parents[1] / "src" / "invokeai_py_client" / "data"


def _from_server(url: str) -> tuple[dict[str, Any], str]:
    with InvokeAIClient(url, use_events=False, timeout=120) as client:
        return client.request("GET", "/openapi.json"), client.server_version()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("openapi", type=Path, nargs="?", help="the server's /openapi.json, saved to a file")
    parser.add_argument("version", nargs="?", help="the InvokeAI version that served it, e.g. 6.14.2")
    parser.add_argument("--url", help="read both from this running server instead")
    args = parser.parse_args()
    if args.url:
        document, version = _from_server(args.url)
    elif args.openapi and args.version:
        document, version = json.loads(args.openapi.read_text(encoding="utf-8")), args.version
    else:
        parser.error("give --url, or a saved /openapi.json and its version")
    snapshot = snapshot_document(document, version=version)
    text = json.dumps(snapshot, separators=(",", ":"), ensure_ascii=False)
    target = DATA_DIR / f"invokeai-{version}-openapi.json.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    print(f"{target}: {target.stat().st_size} bytes ({len(text)} bytes of JSON)")


if __name__ == "__main__":
    main()
