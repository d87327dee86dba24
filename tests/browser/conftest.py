"""A real headless Chromium (Debian's `chromium`) driven by playwright against the local server.

Playwright cannot download its own browser offline, so it launches the system one
(`make install` puts it there). The server keeps the web UI's state between browser
sessions: each test starts from an empty UI state. A failing test leaves a screenshot
in `test-artifacts/`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

APP_READY = ("node templates", "Models loaded")
"""What the app logs once its node templates are built and its models are loaded."""
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
    # This machine's network is closed: without these Chromium keeps dialing out.
    "--disable-background-networking", "--disable-component-update",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Playwright's sync API runs an event loop on this thread while it is open: it is closed
    after each module, so tests that call `asyncio.run()` run after it."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Debian's chromium is not installed (`make install` installs it)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser: Browser, server_url: str) -> Iterator[Page]:
    """One editor page per module (loading the app is the slow part), from an empty UI state."""
    reset = httpx.post(f"{server_url}/api/v1/client_state/default/delete", timeout=30)
    assert reset.status_code == 200, reset.text
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    # The app's own log lines (its warnings say what a load found), for failure messages.
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.console_lines = console  # type: ignore[attr-defined]
    page.goto(server_url)
    # The app builds its node templates (from the 1.8 MB schema) and loads its models after
    # it shows: a workflow loaded before that reads as unknown nodes ("with Warnings").
    # Its log says when both are done.
    deadline = time.monotonic() + 180
    while not all(any(ready in line for line in console) for ready in APP_READY):
        assert time.monotonic() < deadline, f"the app did not log {APP_READY} within 180 s: {console[-5:]}"
        page.wait_for_timeout(200)
    yield page
    context.close()


@pytest.fixture(autouse=True)
def screenshot_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and "page" in request.fixturenames:
        ARTIFACTS.mkdir(exist_ok=True)
        request.getfixturevalue("page").screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
