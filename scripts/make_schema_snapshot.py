"""Write the schema snapshot the package ships, from a server's full `/openapi.json`.

    python scripts/make_schema_snapshot.py ../shared/reference/invokeai-6.14.2-openapi.json 6.14.2

Keeps only what `InvocationCatalog` reads (see `snapshot_document`) and writes
`src/invokeai_py_client/workflow/data/invokeai-<version>-invocations.json.gz`.
The output is deterministic (the schema's own order, no gzip timestamp), so re-running it on
the same schema changes nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from invokeai_py_client.workflow.schema_snapshot import snapshot_document

DATA_DIR = Path(__file__).resolve().parents[1] / "src" / "invokeai_py_client" / "workflow" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("openapi", type=Path, help="the server's /openapi.json, saved to a file")
    parser.add_argument("version", help="the InvokeAI version that served it, e.g. 6.14.2")
    args = parser.parse_args()
    document = json.loads(args.openapi.read_text(encoding="utf-8"))
    snapshot = snapshot_document(document, version=args.version)
    text = json.dumps(snapshot, separators=(",", ":"), ensure_ascii=False)
    target = DATA_DIR / f"invokeai-{args.version}-invocations.json.gz"
    target.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    print(f"{target}: {target.stat().st_size} bytes ({len(text)} bytes of JSON)")


if __name__ == "__main__":
    main()
