"""Run the integration suite against each older InvokeAI release (`make test-matrix`).

    python scripts/test_matrix.py 6.0.2 5.15.0

For each version: provision it as the local instance `test-<version>` (its own venv,
port and root beside the default server; progress on the terminal), then run
`pytest tests/integration` with `INVOKEAI_TEST_VERSION=<version>`; the session
fixture starts that instance and stops it at the end. Prints a table of version x
tests (passed, failed, skipped) with install and run times; exits 1 if any failed.

The multi-user tests stay out: multi-user mode arrived in InvokeAI 6.12, and they start
their own 6.14.2 server anyway. `make test` runs the whole suite on 6.14.2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("invokeai-py")
EXCLUDED = [
    "tests/integration/test_multiuser.py",
    # These start instances of their own (the default release) to kill and restart: run
    # in the matrix they would test 6.14 again, not the older release.
    "tests/integration/test_pool.py",
    "tests/integration/test_refine_restart.py",
]


def counts(junit: Path) -> dict[str, int]:
    """passed/failed/skipped from a pytest junit file (errors count as failed)."""
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    total, failed = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return {"passed": total - failed - skipped, "failed": failed, "skipped": skipped}


def failures(junit: Path) -> list[str]:
    root = ET.parse(junit).getroot()
    return [
        f"{case.get('classname')}::{case.get('name')}"
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]


def run_version(version: str, pytest_args: list[str], out: Path) -> dict[str, object]:
    instance = f"test-{version}"
    started = time.monotonic()
    provision = [str(CLI), "server", "--instance", instance, "--invokeai-version", version, "provision"]
    if subprocess.run(provision, cwd=REPO, check=False).returncode != 0:
        return {"version": version, "error": "provisioning failed", "install_s": time.monotonic() - started}
    installed = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k != "INVOKEAI_URL"}
    env.update(INVOKEAI_TEST_VERSION=version, INVOKEAI_TEST_INSTANCE=instance)
    junit = out / f"{version}.xml"
    argv = [
        sys.executable, "-m", "pytest", "tests/integration", "-p", "no:cacheprovider", "-q",
        *(f"--ignore={path}" for path in EXCLUDED), f"--junitxml={junit}", *pytest_args,
    ]
    print(f"\n=== InvokeAI {version}: {' '.join(argv[1:])}", flush=True)
    subprocess.run(argv, cwd=REPO, env=env, check=False)
    finished = time.monotonic()
    result: dict[str, object] = {
        "version": version, "install_s": installed - started, "run_s": finished - installed,
    }
    if not junit.exists():
        result["error"] = "pytest wrote no results"
        return result
    failed = failures(junit)
    result.update(counts(junit), failures=failed)
    if failed and len(failed) <= MAX_RETRIED:
        # Before 6.x, InvokeAI reads its sqlite queue from several threads without a lock:
        # under load an item can stay "in progress" for good, and every later test that
        # waits for the queue times out. A fresh server (the fixture starts one) clears it.
        # Failures are run once more, and reported either way.
        again = out / f"{version}-again.xml"
        rerun = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={again}",
            *pytest_args, *(nodeid(name) for name in failed),
        ]
        print(f"\n=== InvokeAI {version}: running the {len(failed)} failed tests once more", flush=True)
        subprocess.run(rerun, cwd=REPO, env=env, check=False)
        still = failures(again) if again.exists() else failed
        on_retry = [name for name in failed if name not in still]
        result.update(
            failed=len(still), failures=still, passed_on_retry=on_retry,
            passed=counts(junit)["passed"] + len(on_retry), run_s=time.monotonic() - installed,
        )
    return result


MAX_RETRIED = 15
"""More failures than this are not a server race: they are reported without a second run."""


def nodeid(name: str) -> str:
    """``tests.integration.test_x::test_y[p]`` (junit's classname::name) as a pytest node id."""
    classname, _, test = name.partition("::")
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        path = REPO.joinpath(*parts[:cut]).with_suffix(".py")
        if path.exists():
            return "::".join([str(path.relative_to(REPO)), *parts[cut:], test])
    return name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="+", help="InvokeAI releases, e.g. 6.0.2 5.15.0")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, quoted")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="invokeai-matrix-") as tmp:
        results = [run_version(v, args.pytest_args.split(), Path(tmp)) for v in args.versions]
    print("\nInvokeAI  passed  failed  skipped  install   run")
    ok = True
    for r in results:
        if "error" in r:
            ok = False
            print(f"{r['version']:<9} {r['error']}")
            continue
        ok = ok and r["failed"] == 0
        print(
            f"{r['version']:<9} {r['passed']:>6}  {r['failed']:>6}  {r['skipped']:>7}  "
            f"{r['install_s']:>5.0f} s  {r['run_s']:>4.0f} s"
        )
        for name in r.get("failures", []):  # type: ignore[attr-defined]
            print(f"          FAILED {name}")
        for name in r.get("passed_on_retry", []):  # type: ignore[attr-defined]
            print(f"          passed when run again: {name}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
