"""1.1.1's `submit_sync()` answered a dict: a `Job` also reads as that mapping."""

from __future__ import annotations

from typing import Any

__all__ = ["SubmissionView"]

_KEYS = ("batch_id", "item_ids", "enqueued", "session_id")


class SubmissionView:
    """``job["batch_id"]``, ``job["item_ids"]``, ``job["session_id"]``, ``job["enqueued"]``, ``job.get(...)``."""

    batch_id: str
    item_id: int

    def _session_id_now(self) -> str | None: ...  # provided by Job

    def __getitem__(self, key: str) -> Any:
        if key == "batch_id":
            return self.batch_id
        if key == "item_ids":
            return [self.item_id]
        if key == "item_id":
            return self.item_id
        if key == "enqueued":
            return 1
        if key == "session_id":
            return self._session_id_now()
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        return list(_KEYS)

    def __contains__(self, key: object) -> bool:
        return key in _KEYS or key == "item_id"
