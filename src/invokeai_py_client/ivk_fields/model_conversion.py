"""Compatibility surface for invokeai-py-client 1.1.1: model records to model identifier fields.

Any object with ``key``, ``hash``, ``name``, ``base`` and ``type`` is a `ModelLike`:
our `invokeai_py_client.model_manager.ModelRecord`, 1.1.1's ``DnnModel``, an
`IvkModelIdentifierField`. ``base``/``type`` may be strings or str enums.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .models import IvkModelIdentifierField

__all__ = ["IvkModelIdentifierField", "ModelLike", "from_ivk_model_field", "is_model_compatible", "to_ivk_model_field"]


@runtime_checkable
class ModelLike(Protocol):
    """What identifies an installed model."""

    @property
    def key(self) -> str: ...

    @property
    def hash(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def base(self) -> str: ...

    @property
    def type(self) -> str: ...


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


def to_ivk_model_field(model: ModelLike) -> IvkModelIdentifierField:
    """The identifier field naming `model`."""
    return IvkModelIdentifierField(
        key=model.key, hash=model.hash, name=model.name, base=_text(model.base), type=_text(model.type)
    )


def from_ivk_model_field(field: IvkModelIdentifierField) -> dict[str, str]:
    """``{"key", "hash", "name", "base", "type"}`` of `field`, as plain strings."""
    return {
        "key": field.key,
        "hash": field.hash,
        "name": field.name,
        "base": _text(field.base),
        "type": _text(field.type),
    }


def is_model_compatible(model: ModelLike, base_type: str, model_type: str | None = None) -> bool:
    """True if `model` has base `base_type` and, when given, type `model_type`."""
    if _text(model.base) != _text(base_type):
        return False
    return model_type is None or _text(model.type) == _text(model_type)
