"""An async wait leaves no Future whose exception nobody read (asyncio would log each one)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from invokeai_py_client import JobLostError
from invokeai_py_client.jobs import _Settled
from tests.unit.test_job_following import FakeJob


def test_a_job_ending_badly_after_an_async_wait_gave_up_is_not_reported_as_unretrieved() -> None:
    reports: list[dict[str, Any]] = []

    async def main() -> bool:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: reports.append(context))
        job, settled_first = FakeJob(5), FakeJob(6)
        settled_first._settle(None, JobLostError("queue item 6 is gone", None))
        waited = await _Settled([job, settled_first], timeout=0.05, on_event=None).run_async(None)  # type: ignore[arg-type]
        job._settle(None, JobLostError("queue item 5 is gone", None))  # ends after the wait gave up
        await asyncio.sleep(0.05)  # the wrappers take the outcome in the loop
        gc.collect()
        await asyncio.sleep(0)
        return waited

    assert asyncio.run(main()) is False  # timed out: one job was still pending
    assert [r["message"] for r in reports] == []
