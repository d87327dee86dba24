"""Noticing that the server went away during a run (a restart), to take back what it canceled.

InvokeAI cancels the items that were running when it stopped, at its next start, and
records nothing that tells such a cancel from a user's. The run watches the server
(one light request a second); an item of the run canceled after the server was seen
down while the item was queued was canceled by the restart, and is submitted again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx

log = logging.getLogger("invokeai_py_client.cli")


class OutageWatch:
    """Asks the server for its version every `interval` seconds; remembers when it did not answer.

    `on_tick` (e.g. showing the queue's counts) runs after every answer, on the watch's thread.
    """

    def __init__(self, base_url: str, interval: float = 1.0, on_tick: Callable[[], None] | None = None) -> None:
        self.url = base_url.rstrip("/") + "/api/v1/app/version"
        self.interval = interval
        self.on_tick = on_tick
        self.down_at: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="invokeai-py outage watch", daemon=True)

    def __enter__(self) -> OutageWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with httpx.Client(timeout=2.0) as http:
            while not self._stop.wait(self.interval):
                try:
                    http.get(self.url)  # any answer, even an error status, means the server is there
                except httpx.TransportError:
                    if not self.down_at:
                        log.warning("the server does not answer (restarting?); waiting for it")
                    self.down_at.append(time.monotonic())
                    continue
                if self.on_tick is not None:
                    try:
                        self.on_tick()
                    except Exception:  # a display helper must not end the watch
                        log.debug("watch tick failed", exc_info=True)

    def down_since(self, moment: float) -> bool:
        """Whether the server was seen down after `moment` (a `time.monotonic()`)."""
        return any(t > moment for t in self.down_at)
