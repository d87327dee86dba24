"""The multi-user InvokeAI instance of `test_multiuser.py`, started in the background.

Starting it costs about as long as the main server (importing torch, mostly on one
core), so the suite starts it beside the main server instead of after it.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future, ThreadPoolExecutor

from invokeai_py_client.server import LocalServer

INSTANCE = "multiuser-test"

_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="multiuser-server")
_started: Future[str] | None = None


def server() -> LocalServer:
    return LocalServer(instance=INSTANCE, multiuser=True)


def _fresh_start() -> str:
    instance = server()
    instance.down()
    shutil.rmtree(instance.paths.instance_dir, ignore_errors=True)  # a fresh user database
    return instance.up()


def start_in_background() -> None:
    global _started
    if _started is None:
        _started = _pool.submit(_fresh_start)


def url() -> str:
    """The running instance's URL (started now if nobody started it yet); raises what `up` raised."""
    start_in_background()
    assert _started is not None
    return _started.result()
