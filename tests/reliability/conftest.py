"""Fixtures of the reliability scenarios: a server of their own, a fault proxy, server-side counts.

Scenarios that pause the processor, flood the queue or kill the server run against
their own local instance ("reliability": own root, port and database), never against
the shared default server; the others go through a `FaultProxy` to `server_url`.
Counted outcomes are recorded with pytest's `record_property`, so `make reliability`
reads them from the JUnit report into docs/RELIABILITY.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from invokeai_py_client.server import LocalServer, LocalServerError
from tests.reliability.faultproxy import FaultProxy

INSTANCE = "reliability"


@pytest.fixture(scope="session")
def own_server() -> Iterator[LocalServer]:
    """The scenarios' own InvokeAI instance (no models needed: their graphs use none)."""
    server = LocalServer(instance=INSTANCE)
    already_running = server.url() is not None  # another session's: it stops it, not us
    try:
        server.up(install_models=False)
    except LocalServerError as exc:
        pytest.fail(f"could not start the reliability instance:\n{exc}", pytrace=False)
    try:
        yield server
    finally:
        if not already_running:
            server.down()


@pytest.fixture
def own_url(own_server: LocalServer) -> str:
    """The own instance's URL, started again if a scenario left it down."""
    return own_server.up(install_models=False)


@pytest.fixture
def proxy_to() -> Iterator[Callable[[str], FaultProxy]]:
    """Start a `FaultProxy` to a URL; every proxy started is stopped after the test."""
    started: list[FaultProxy] = []

    def start(url: str) -> FaultProxy:
        proxy = FaultProxy(url).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def items_of(server_url: str, destination: str) -> list[dict[str, object]]:
    """The queue items the server holds for a destination (asked directly, not through a proxy)."""
    answer = httpx.get(
        f"{server_url}/api/v1/queue/default/list_all", params={"destination": destination}, timeout=30
    )
    answer.raise_for_status()
    rows: list[dict[str, object]] = answer.json()
    return rows
