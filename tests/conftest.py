"""Shared fixtures: the real local InvokeAI server and the reference data directory.

Integration tests (everything under tests/integration) are marked `integration`
automatically and get `server_url`: `INVOKEAI_URL` if set, else the package's own
local server, provisioned and started on demand and stopped at the end of the
session only if this session started it. If it cannot be provisioned or started,
the tests FAIL with the reason; they are never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.golden import golden_path

REPO = Path(__file__).resolve().parent.parent
INTEGRATION_DIR = REPO / "tests" / "integration"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Base URL of a real InvokeAI 6.14.2 server with the five tiny models installed."""
    external = os.environ.get("INVOKEAI_URL")
    if external:
        yield external.rstrip("/")
        return
    if any(Path(str(item.fspath)).name == "test_multiuser.py" for item in request.session.items):
        from tests import multiuser_server

        multiuser_server.start_in_background()  # its start overlaps the main server's
    from invokeai_py_client.server import LocalServer, LocalServerError

    server = LocalServer()
    already_running = server.url() is not None
    try:
        url = server.up()
    except LocalServerError as exc:
        pytest.fail(f"could not provision/start the local InvokeAI server (home {server.home}):\n{exc}", pytrace=False)
    try:
        yield url
    finally:
        if not already_running:
            server.down()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`<repo>/../shared/reference`: real GUI exports, queue items, the OpenAPI schema (see tests/golden.py)."""
    return golden_path(".")
