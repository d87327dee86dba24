"""Compatibility surface for invokeai-py-client 1.1.1: fields that name server-side objects.

An image, a board, latents, a tensor, a denoise mask or metadata. ``value`` holds the
server's name or id (``to_api_format`` wraps it the way the API spells a reference,
e.g. ``{"image_name": value}``); assigning the API form (``{"image_name": ...}``)
is accepted too.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import field_validator

from .base import IvkField, IvkImageFieldMixin, PydanticFieldMixin, _named, _NamedIvkModel

__all__ = [
    "IvkBoardField",
    "IvkDenoiseMaskField",
    "IvkField",
    "IvkImageField",
    "IvkImageFieldMixin",
    "IvkLatentsField",
    "IvkMetadataField",
    "IvkTensorField",
    "PydanticFieldMixin",
]


class IvkImageField(_NamedIvkModel, PydanticFieldMixin, IvkField[str], IvkImageFieldMixin):
    """An image on the server, by image name."""

    value: str | None = None
    """The image name (``{"image_name": ...}`` is accepted on assignment)."""
    is_uploaded: bool = False

    @field_validator("value", mode="before")
    @classmethod
    def _image_name(cls, v: Any) -> Any:
        return _named("image_name", v)

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": {"image_name": value} or None, "type": "image"}``."""
        return {"value": {"image_name": self.value} if self.value else None, "type": "image"}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": {"image_name": ...}}`` (an uploaded image unless it says not)."""
        return cls(value=_named("image_name", data.get("value")), is_uploaded=data.get("is_uploaded", True))


class IvkBoardField(_NamedIvkModel, PydanticFieldMixin, IvkField[str]):
    """A board, by board id ("none" is the uncategorized board)."""

    value: str | None = None
    """The board id (``{"board_id": ...}`` is accepted on assignment)."""

    @field_validator("value", mode="before")
    @classmethod
    def _board_id(cls, v: Any) -> Any:
        return _named("board_id", v)

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": {"board_id": value} or None, "type": "board"}``."""
        return {"value": {"board_id": self.value} if self.value else None, "type": "board"}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": {"board_id": ...}}``."""
        return cls(value=_named("board_id", data.get("value")))


class IvkLatentsField(_NamedIvkModel, PydanticFieldMixin, IvkField[str]):
    """Latents on the server, by latents name, with the seed that made them."""

    value: str | None = None
    """The latents name."""
    seed: int | None = None

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": {"latents_name", "seed"} or None, "type": "latents"}``."""
        ref = {"latents_name": self.value, "seed": self.seed} if self.value else None
        return {"value": ref, "type": "latents"}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": {"latents_name": ..., "seed": ...}}``."""
        ref = data.get("value")
        if isinstance(ref, dict):
            return cls(value=ref.get("latents_name"), seed=ref.get("seed"))
        return cls(value=ref)


class IvkTensorField(_NamedIvkModel, PydanticFieldMixin, IvkField[str]):
    """A tensor on the server, by tensor name."""

    value: str | None = None
    """The tensor name (``{"tensor_name": ...}`` is accepted on assignment)."""

    @field_validator("value", mode="before")
    @classmethod
    def _tensor_name(cls, v: Any) -> Any:
        return _named("tensor_name", v)

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": {"tensor_name": value} or None, "type": "tensor"}``."""
        return {"value": {"tensor_name": self.value} if self.value else None, "type": "tensor"}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": {"tensor_name": ...}}``."""
        return cls(value=_named("tensor_name", data.get("value")))


class IvkDenoiseMaskField(_NamedIvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """A denoise mask: ``value`` as the API's dict, or built from its parts."""

    value: dict[str, Any] | None = None
    mask_name: str | None = None
    masked_latents_name: str | None = None
    gradient: bool = False

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": {"mask_name", "masked_latents_name", "gradient"} or None, "type": "denoise_mask"}``.

        ``value`` is sent as it is when set; else the parts, when there is a mask name.
        """
        value = self.value
        if value is None and self.mask_name:
            value = {
                "mask_name": self.mask_name,
                "masked_latents_name": self.masked_latents_name,
                "gradient": self.gradient,
            }
        return {"value": value, "type": "denoise_mask"}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": {"mask_name": ..., ...}}``."""
        ref = data.get("value") or {}
        return cls(
            value=ref or None,
            mask_name=ref.get("mask_name"),
            masked_latents_name=ref.get("masked_latents_name"),
            gradient=ref.get("gradient", False),
        )


class IvkMetadataField(_NamedIvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """Free-form metadata (a dict) attached to outputs."""

    value: dict[str, Any] | None = None

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": value, "type": "metadata"}``."""
        return {"value": self.value, "type": "metadata"}
