"""Shared fixtures: the real local InvokeAI server and the reference data directory.

Integration tests (everything under tests/integration and tests/reliability) are
marked `integration` automatically and get `server_url`: `INVOKEAI_URL` if set, else the package's own
local server, provisioned and started on demand and stopped at the end of the
session only if this session started it. If it cannot be provisioned or started,
the tests FAIL with the reason; they are never skipped.

The matrix (`make test-matrix`) runs the same tests against older InvokeAI servers:
`INVOKEAI_TEST_VERSION=6.0.2` provisions and starts that release as its own instance
(`test-6.0.2`, or `INVOKEAI_TEST_INSTANCE`); with `INVOKEAI_URL` it names the version
the server there must report. A test of something an older server lacks
wraps it in `newer_feature(method, route)`: where the server has the route the block
runs as usual; where it does not, the block must raise `UnsupportedByServerError` for
that route instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.golden import golden_path

REPO = Path(__file__).resolve().parent.parent
INTEGRATION_DIR = REPO / "tests" / "integration"
RELIABILITY_DIR = REPO / "tests" / "reliability"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.is_relative_to(INTEGRATION_DIR) or path.is_relative_to(RELIABILITY_DIR):
            item.add_marker(pytest.mark.integration)


def version_under_test() -> str:
    """The InvokeAI version the integration tests run against (`INVOKEAI_TEST_VERSION`)."""
    from invokeai_py_client.server import INVOKEAI_VERSION

    return os.environ.get("INVOKEAI_TEST_VERSION") or INVOKEAI_VERSION


def instance_under_test() -> str:
    """The local instance that serves them: `default` for 6.14.2, `test-<version>` otherwise."""
    from invokeai_py_client.server import INVOKEAI_VERSION

    version = version_under_test()
    default = "default" if version == INVOKEAI_VERSION else f"test-{version}"
    return os.environ.get("INVOKEAI_TEST_INSTANCE") or default


@pytest.fixture(scope="session")
def local_server() -> Any:
    """The package's `LocalServer` for this session's version and instance (it may not run)."""
    from invokeai_py_client.server import LocalServer

    return LocalServer(instance=instance_under_test(), invokeai_version=version_under_test())


@pytest.fixture(scope="session")
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Base URL of a real InvokeAI server (6.14.2 unless `INVOKEAI_TEST_VERSION`) with the
    five tiny models installed."""
    external = os.environ.get("INVOKEAI_URL")
    if external:
        yield external.rstrip("/")
        return
    if any(Path(str(item.fspath)).name == "test_multiuser.py" for item in request.session.items):
        from tests import multiuser_server

        multiuser_server.start_in_background()  # its start overlaps the main server's
    from invokeai_py_client.server import LocalServerError

    server = request.getfixturevalue("local_server")
    already_running = server.url() is not None
    try:
        url = server.up()
    except LocalServerError as exc:
        pytest.fail(
            f"could not provision/start the local InvokeAI {server.invokeai_version} server "
            f"(home {server.home}, instance {server.paths.instance}):\n{exc}",
            pytrace=False,
        )
    try:
        yield url
    finally:
        if not already_running:
            server.down()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`<repo>/../shared/reference`: real GUI exports, queue items, the OpenAPI schema (see tests/golden.py)."""
    return golden_path(".")


@pytest.fixture(scope="session")
def expected_version() -> str:
    """The InvokeAI version the server under test must report."""
    return version_under_test()


@pytest.fixture(scope="session")
def server_schema(server_url: str) -> Any:
    """The `ServerSchema` (version, routes, its live /openapi.json) of the server under test."""
    from invokeai_py_client import InvokeAIClient
    from invokeai_py_client._capabilities import live_schema as schema_step

    def flow() -> Any:
        return (yield schema_step())

    with InvokeAIClient(server_url, use_events=False) as client:
        schema = client._runner.run(flow())
    assert schema.source == "server", f"the server's /openapi.json was unusable: {schema.source} stood in"
    return schema


@pytest.fixture
def newer_feature(server_schema: Any) -> Callable[[str, str], contextlib.AbstractContextManager[Any]]:
    """`with newer_feature("GET", "/api/v1/images/names"):` runs the block on servers that
    have the route and expects `UnsupportedByServerError` naming it on those that do not."""
    from invokeai_py_client import UnsupportedByServerError

    @contextlib.contextmanager
    def expect(method: str, route: str) -> Iterator[None]:
        if server_schema.has(method, route):
            yield
            return
        with pytest.raises(UnsupportedByServerError) as info:
            yield
        assert info.value.route == f"{method.upper()} {route}"
        assert info.value.server_version == server_schema.version

    return expect
