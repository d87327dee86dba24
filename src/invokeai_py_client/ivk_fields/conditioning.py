"""Compatibility surface for invokeai-py-client 1.1.1: conditioning fields.

References to conditioning tensors the server made (prompt encodings, FLUX Redux,
Fill and Kontext inputs). ``to_api_format`` spells them as the server's schema does,
e.g. ``{"conditioning_name": ..., "mask": {"tensor_name": ...}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from .base import IvkField, PydanticFieldMixin, _named, _NamedIvkModel

__all__ = [
    "IvkCogView4ConditioningField",
    "IvkConditioningField",
    "IvkField",
    "IvkFluxConditioningField",
    "IvkFluxFillConditioningField",
    "IvkFluxKontextConditioningField",
    "IvkFluxReduxConditioningField",
    "IvkSD3ConditioningField",
    "PydanticFieldMixin",
]


def _tensor(name: str | None) -> dict[str, str] | None:
    return {"tensor_name": name} if name else None


class _NamedConditioning(_NamedIvkModel):
    """``value`` is a conditioning name; `api_type` is the type tag `to_api_format` gives."""

    api_type: ClassVar[str]
    value: str | None = None
    """The conditioning name."""

    def _reference(self) -> dict[str, Any] | None:
        return {"conditioning_name": self.value} if self.value else None

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": {"conditioning_name", ...} or None, "type": api_type}``."""
        return {"value": self._reference(), "type": self.api_type}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": {"conditioning_name": ..., "mask": {"tensor_name": ...}}}``."""
        ref = data.get("value")
        fields: dict[str, Any] = {"value": _named("conditioning_name", ref)}
        if "mask" in cls.model_fields and isinstance(ref, dict):
            fields["mask"] = _named("tensor_name", ref.get("mask"))
        return cls(**fields)


class _MaskedConditioning(_NamedConditioning):
    mask: str | None = None
    """The tensor name of a mask limiting where the conditioning applies."""

    def _reference(self) -> dict[str, Any] | None:
        ref = super()._reference()
        if ref is not None and self.mask:
            ref["mask"] = _tensor(self.mask)
        return ref


class IvkConditioningField(_MaskedConditioning, PydanticFieldMixin, IvkField[str]):
    """SD 1/2/XL prompt conditioning, optionally masked."""

    api_type = "conditioning"


class IvkFluxConditioningField(_MaskedConditioning, PydanticFieldMixin, IvkField[str]):
    """FLUX prompt conditioning, optionally masked."""

    api_type = "flux_conditioning"


class IvkSD3ConditioningField(_NamedConditioning, PydanticFieldMixin, IvkField[str]):
    """Stable Diffusion 3 prompt conditioning."""

    api_type = "sd3_conditioning"


class IvkCogView4ConditioningField(_NamedConditioning, PydanticFieldMixin, IvkField[str]):
    """CogView4 prompt conditioning."""

    api_type = "cogview4_conditioning"


class IvkFluxReduxConditioningField(_NamedIvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """FLUX Redux conditioning: ``value`` as the API's dict, or built from tensor names."""

    value: dict[str, Any] | None = None
    conditioning: str | None = None
    """The tensor name of the Redux conditioning."""
    mask: str | None = None

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": {"conditioning": {"tensor_name"}, "mask"}, "type": "flux_redux_conditioning"}``."""
        value = self.value
        if value is None and self.conditioning:
            value = {"conditioning": _tensor(self.conditioning), "mask": _tensor(self.mask)}
        return {"value": value, "type": "flux_redux_conditioning"}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": {"conditioning": {"tensor_name": ...}, "mask": ...}}``."""
        ref = data.get("value") or {}
        return cls(
            value=ref or None,
            conditioning=_named("tensor_name", ref.get("conditioning")),
            mask=_named("tensor_name", ref.get("mask")),
        )


class IvkFluxFillConditioningField(_NamedIvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """FLUX Fill conditioning: ``value`` as the API's dict, or built from an image and a mask."""

    value: dict[str, Any] | None = None
    image: str | None = None
    """The image name of the image to fill."""
    mask: str | None = None
    """The tensor name of the mask."""

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": {"image": {"image_name"}, "mask": {"tensor_name"}}, "type": "flux_fill_conditioning"}``."""
        value = self.value
        if value is None and self.image and self.mask:
            value = {"image": {"image_name": self.image}, "mask": _tensor(self.mask)}
        return {"value": value, "type": "flux_fill_conditioning"}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": {"image": {"image_name": ...}, "mask": {"tensor_name": ...}}}``."""
        ref = data.get("value") or {}
        return cls(
            value=ref or None,
            image=_named("image_name", ref.get("image")),
            mask=_named("tensor_name", ref.get("mask")),
        )


class IvkFluxKontextConditioningField(_NamedIvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """FLUX Kontext conditioning: ``value`` as the API's dict, or built from a reference image."""

    value: dict[str, Any] | None = None
    image: str | None = None
    """The image name of the reference image."""

    def to_api_format(self) -> dict[str, Any]:
        """``{"value": {"image": {"image_name"}}, "type": "flux_kontext_conditioning"}``."""
        value = self.value
        if value is None and self.image:
            value = {"image": {"image_name": self.image}}
        return {"value": value, "type": "flux_kontext_conditioning"}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": {"image": {"image_name": ...}}}``."""
        ref = data.get("value") or {}
        return cls(value=ref or None, image=_named("image_name", ref.get("image")))
