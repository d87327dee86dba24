"""Compatibility surface for invokeai-py-client 1.1.1: color, bounding box and collection fields.

The color and the bounding box are their own value (``r``/``g``/``b``/``a``,
``x_min``/``x_max``/``y_min``/``y_max``); a collection keeps its list in ``value``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Generic, Self, TypeVar

from pydantic import Field, field_validator

from .base import IvkCollectionFieldMixin, IvkField, PydanticFieldMixin, _IvkModel

__all__ = [
    "IvkBoundingBoxField",
    "IvkCollectionField",
    "IvkCollectionFieldMixin",
    "IvkColorField",
    "IvkField",
    "PydanticFieldMixin",
]

T = TypeVar("T")


class IvkColorField(_IvkModel, PydanticFieldMixin, IvkField[dict[str, int]]):
    """An RGBA color, each component 0-255 (alpha 255, opaque, unless given)."""

    r: int = 0
    g: int = 0
    b: int = 0
    a: int = 255

    @field_validator("r", "g", "b", "a")
    @classmethod
    def validate_color_component(cls, v: int) -> int:
        """The component if it is 0-255."""
        if not 0 <= v <= 255:
            raise ValueError(f"a color component is 0-255, got {v}")
        return v

    @property
    def value(self) -> dict[str, int]:
        """``{"r", "g", "b", "a"}``, as a workflow color input takes it."""
        return {"r": self.r, "g": self.g, "b": self.b, "a": self.a}

    def to_api_format(self) -> dict[str, Any]:
        """The server's ColorField: ``{"r", "g", "b", "a"}``."""
        return self.value

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"r", "g", "b", "a"}`` (missing components take the defaults)."""
        return cls(**{c: data[c] for c in "rgba" if c in data})

    def set_rgba(self, r: int, g: int, b: int, a: int = 255) -> None:
        """Set all four components; on a bad component none changes."""
        checked = type(self)(r=r, g=g, b=b, a=a)
        for c in "rgba":
            setattr(self, c, getattr(checked, c))

    def set_hex(self, hex_color: str) -> None:
        """Set the color from ``"#rrggbb"`` or ``"#rrggbbaa"`` (the "#" is optional)."""
        digits = hex_color.removeprefix("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", digits):
            raise ValueError(f"expected '#rrggbb' or '#rrggbbaa', got {hex_color!r}")
        parts = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
        self.set_rgba(*parts)

    def to_rgba(self) -> tuple[int, int, int, int]:
        """``(r, g, b, a)``."""
        return (self.r, self.g, self.b, self.a)

    def to_hex(self, include_alpha: bool = False) -> str:
        """``"#RRGGBB"``, or ``"#RRGGBBAA"`` with `include_alpha`."""
        parts = self.to_rgba() if include_alpha else self.to_rgba()[:3]
        return "#" + "".join(f"{p:02X}" for p in parts)


class IvkBoundingBoxField(_IvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """A rectangle in pixels, with an optional detection score 0-1."""

    x_min: int = 0
    x_max: int = 0
    y_min: int = 0
    y_max: int = 0
    score: float | None = None

    def validate_field(self) -> bool:
        """True if the box has an area and the score is 0-1; raises ValueError otherwise."""
        super().validate_field()
        if self.x_max <= self.x_min:
            raise ValueError(f"x_max ({self.x_max}) must be greater than x_min ({self.x_min})")
        if self.y_max <= self.y_min:
            raise ValueError(f"y_max ({self.y_max}) must be greater than y_min ({self.y_min})")
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score {self.score} must be between 0 and 1")
        return True

    def to_api_format(self) -> dict[str, Any]:
        """The server's BoundingBoxField: ``{"x_min", "x_max", "y_min", "y_max"[, "score"]}``."""
        box: dict[str, Any] = {"x_min": self.x_min, "x_max": self.x_max, "y_min": self.y_min, "y_max": self.y_max}
        if self.score is not None:
            box["score"] = self.score
        return box

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of a BoundingBoxField dict."""
        known = ("x_min", "x_max", "y_min", "y_max", "score")
        return cls(**{k: data[k] for k in known if k in data})

    def set_box(self, x_min: int, x_max: int, y_min: int, y_max: int, score: float | None = None) -> None:
        """Set every coordinate (and the score)."""
        checked = type(self)(x_min=x_min, x_max=x_max, y_min=y_min, y_max=y_max, score=score)
        for k in ("x_min", "x_max", "y_min", "y_max", "score"):
            setattr(self, k, getattr(checked, k))

    def get_box(self) -> tuple[int, int, int, int, float | None]:
        """``(x_min, x_max, y_min, y_max, score)``."""
        return (self.x_min, self.x_max, self.y_min, self.y_max, self.score)

    def get_width(self) -> int:
        """``x_max - x_min``."""
        return self.x_max - self.x_min

    def get_height(self) -> int:
        """``y_max - y_min``."""
        return self.y_max - self.y_min

    def get_area(self) -> int:
        """Width times height."""
        return self.get_width() * self.get_height()


class IvkCollectionField(
    _IvkModel, PydanticFieldMixin, IvkField[list[T]], IvkCollectionFieldMixin[T], Generic[T]
):
    """A list of values; ``item_type`` checks each item, ``min_length``/``max_length`` its size.

    ``len()``, indexing and `iter_items` work on the field itself.
    """

    item_type: type[T] | None = None
    min_length: int | None = None
    max_length: int | None = None
    value: list[T] = Field(default_factory=list)

    def validate_field(self) -> bool:
        """True if the size is within bounds and each item is an ``item_type``; raises otherwise."""
        super().validate_field()
        self._check_size(len(self.value))
        for i, item in enumerate(self.value):
            self._check_item(item, f"item {i}")
        return True

    def _check_size(self, size: int) -> None:
        if self.min_length is not None and size < self.min_length:
            raise ValueError(f"a collection of {size} items is shorter than the minimum {self.min_length}")
        if self.max_length is not None and size > self.max_length:
            raise ValueError(f"a collection of {size} items is longer than the maximum {self.max_length}")

    def _check_item(self, item: Any, what: str = "the item") -> None:
        if self.item_type is not None and not isinstance(item, self.item_type):
            raise TypeError(f"{what} is a {type(item).__name__}, expected {self.item_type.__name__}")

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": [...]}``."""
        return {"value": self.value}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": [...]}``."""
        return cls(value=data.get("value") or [])

    def append(self, item: T) -> None:
        """Add `item` at the end (TypeError if not an ``item_type``, ValueError past ``max_length``)."""
        self._check_item(item)
        self._check_size(len(self.value) + 1)
        self.value.append(item)

    def extend(self, items: list[T]) -> None:
        """Add every item (none is added if one is refused)."""
        for item in items:
            self._check_item(item)
        self._check_size(len(self.value) + len(items))
        self.value.extend(items)

    def remove(self, item: T) -> None:
        """Remove the first item equal to `item` (ValueError if absent or below ``min_length``)."""
        if item not in self.value:
            raise ValueError(f"{item!r} is not in the collection")
        self._check_size(len(self.value) - 1)
        self.value.remove(item)

    def clear(self) -> None:
        """Remove every item (ValueError if ``min_length`` forbids it)."""
        self._check_size(0)
        self.value = []

    def __len__(self) -> int:
        return len(self.value)

    def __getitem__(self, index: int) -> T:
        return self.value[index]

    def __setitem__(self, index: int, item: T) -> None:
        self._check_item(item)
        self.value[index] = item

    def iter_items(self) -> Iterator[T]:
        """The items, in order."""
        return iter(self.value)
