"""1.1.1's field methods (`validate_field`, `to_api_format`, `to_json_dict`) and a model
field's identifier parts as attributes (``field.key = ...``), on our input fields."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["InputFieldCompat", "ModelFieldCompat"]


class InputFieldCompat:
    """`validate_field`, `to_api_format`, `to_json_dict` of 1.1.1's ``Ivk*Field``."""

    def validate_field(self) -> bool:
        """True when the current value is valid (it is checked when assigned; this checks again)."""
        self.validate(self._value)  # type: ignore[attr-defined]
        return True

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": ...}`` as the graph takes it (values to resolve at submit are kept as set)."""
        value = self._value  # type: ignore[attr-defined]
        with contextlib.suppress(ValueError):  # a name or local file stays as set: resolved at submit
            value = self.graph_value_of(value)  # type: ignore[attr-defined]
        return {"value": value}

    def to_json_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "value": self.value}  # type: ignore[attr-defined]


def _part(name: str) -> property:
    def get(self: Any) -> Any:
        value = self._value
        return value.get(name) if isinstance(value, dict) else (value if name in ("key", "name") else None)

    def set_(self: Any, part: Any) -> None:
        value = self._value
        if isinstance(value, dict):
            self.value = {**value, name: part}
        elif name in ("key", "name"):
            self.value = part  # a key or name, looked up at submit
        else:
            raise AttributeError(f"set the model's key or name before its {name} (the value is {value!r})")

    return property(get, set_, doc=f"The model's {name} (1.1.1 scripts set these one by one).")


class ModelFieldCompat:
    """A model input's identifier parts as attributes: ``field.key``, ``.name``, ``.hash``, ``.base``, ``.type``."""

    key = _part("key")
    name = _part("name")
    hash = _part("hash")
    base = _part("base")
    type = _part("type")

    def to_api_format(self) -> dict[str, Any]:
        value = self._value  # type: ignore[attr-defined]
        return dict(value) if isinstance(value, dict) else {"key": value}
