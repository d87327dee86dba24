"""Compatibility surface for invokeai-py-client 1.1.1: string, integer, float and boolean fields.

Each is a pydantic model whose ``value`` is checked on construction and on every
assignment; a bad value raises `pydantic.ValidationError` (a ValueError) and the
old value stays. Conversion is pydantic's lax mode, as in 1.1.1: an integer field
takes ``"512"`` and ``512.0`` but not ``5.5``, a float field stores ``7`` as ``7.0``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import ValidationInfo, field_validator

from .base import IvkField, PydanticFieldMixin, _IvkModel

__all__ = [
    "IvkBooleanField",
    "IvkField",
    "IvkFloatField",
    "IvkIntegerField",
    "IvkStringField",
    "PydanticFieldMixin",
]


# The constraint attributes are declared before ``value`` so that pydantic has
# validated them (``info.data``) when it checks the value, at construction too.


class IvkStringField(_IvkModel, PydanticFieldMixin, IvkField[str]):
    """A string; ``min_length``/``max_length`` bound its length, ``pattern`` must match it."""

    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    """A regular expression the value must contain a match of (`re.search`)."""
    value: str | None = None

    @field_validator("value")
    @classmethod
    def validate_string_constraints(cls, v: str | None, info: ValidationInfo) -> str | None:
        """The value if it fits the length bounds and the pattern."""
        if v is None:
            return v
        low, high, pattern = (info.data.get(k) for k in ("min_length", "max_length", "pattern"))
        if low is not None and len(v) < low:
            raise ValueError(f"{v!r} is shorter than {low} characters")
        if high is not None and len(v) > high:
            raise ValueError(f"{v!r} is longer than {high} characters")
        if pattern is not None and re.search(pattern, v) is None:
            raise ValueError(f"{v!r} does not match the pattern {pattern!r}")
        return v

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": value}``."""
        return {"value": self.value}


def _check_range(v: float, info: ValidationInfo) -> None:
    low, high = info.data.get("minimum"), info.data.get("maximum")
    if low is not None and v < low:
        raise ValueError(f"{v!r} is less than the minimum {low!r}")
    if high is not None and v > high:
        raise ValueError(f"{v!r} is greater than the maximum {high!r}")


class IvkIntegerField(_IvkModel, PydanticFieldMixin, IvkField[int]):
    """An integer within ``minimum``..``maximum`` (inclusive) and a multiple of ``multiple_of``."""

    minimum: int | None = None
    maximum: int | None = None
    multiple_of: int | None = None
    value: int | None = None

    @field_validator("value")
    @classmethod
    def validate_integer_constraints(cls, v: int | None, info: ValidationInfo) -> int | None:
        """The value if it is within the bounds and a multiple of ``multiple_of``."""
        if v is None:
            return v
        _check_range(v, info)
        step = info.data.get("multiple_of")
        if step and v % step:
            raise ValueError(f"{v} is not a multiple of {step}")
        return v

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": value}``."""
        return {"value": self.value}


class IvkFloatField(_IvkModel, PydanticFieldMixin, IvkField[float]):
    """A finite float within ``minimum``..``maximum`` (inclusive); ints become floats."""

    minimum: float | None = None
    maximum: float | None = None
    value: float | None = None

    @field_validator("value")
    @classmethod
    def validate_float_constraints(cls, v: float | None, info: ValidationInfo) -> float | None:
        """The value if it is finite and within the bounds."""
        if v is None:
            return v
        if not math.isfinite(v):
            raise ValueError(f"{v!r} is not a finite number (JSON cannot carry it to the server)")
        _check_range(v, info)
        return v

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": value}``."""
        return {"value": self.value}


class IvkBooleanField(_IvkModel, PydanticFieldMixin, IvkField[bool]):
    """A boolean (pydantic's lax mode also takes "yes"/"no", "true"/"false", 1/0)."""

    value: bool | None = None

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": value}``."""
        return {"value": self.value}
