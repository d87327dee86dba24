"""Small adapters for 1.1.1's model answers."""

from __future__ import annotations

from typing import Any

__all__ = ["AttrDict"]


class AttrDict(dict[str, Any]):
    """A model identifier that also reads by attribute (``.name``, ``.key``), as 1.1.1's fields did."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None
