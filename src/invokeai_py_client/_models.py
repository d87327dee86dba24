"""The base of every server record, below everything else in the package."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["OrderDir", "ServerModel"]

OrderDir = Literal["ASC", "DESC"]
"""Sort order of listings."""


class ServerModel(BaseModel):
    """Base of every server record: keeps unknown fields, reads like a mapping."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            extra = self.__pydantic_extra__ or {}
            if key in extra:
                return extra[key]
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-compatible data, unknown fields included."""
        return self.model_dump(mode="json")


_MISSING = object()
