"""Compatibility surface for invokeai-py-client 1.1.1: model identifier and model-config fields.

`IvkModelIdentifierField` names an installed model (key, hash, name, base, type);
`IvkSDXLModelField`, `IvkFluxModelField`, `IvkT5EncoderField`, `IvkCLIPEmbedField`
and `IvkVAEModelField` are other names of it, as in 1.1.1. The UNet, CLIP,
Transformer and LoRA fields are the structured values loader nodes pass along.

``BaseDnnModelType`` and ``DnnModelType`` are importable from here as in 1.1.1; they
are the model manager's `BaseModelType` and `ModelType` (the same objects
`invokeai_py_client.dnn_model` exports), which take values they do not know.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field

from ..model_manager import BaseModelType as BaseDnnModelType
from ..model_manager import ModelType as DnnModelType
from .base import IvkField, PydanticFieldMixin, _IvkModel

__all__ = [
    "BaseDnnModelType",
    "DnnModelType",
    "IvkCLIPEmbedField",
    "IvkCLIPField",
    "IvkField",
    "IvkFluxModelField",
    "IvkLoRAField",
    "IvkModelIdentifierField",
    "IvkSDXLModelField",
    "IvkT5EncoderField",
    "IvkTransformerField",
    "IvkUNetField",
    "IvkVAEModelField",
    "PydanticFieldMixin",
]


class IvkModelIdentifierField(_IvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """An installed model, as the server identifies it.

    ``base`` and ``type`` are str enums: they compare equal to their strings ("sdxl",
    "main"), and a value the enum does not know (a newer server's) is kept as given
    (1.1.1 turned it into "any"/"main").
    """

    key: str = ""
    hash: str = ""
    name: str = ""
    base: BaseDnnModelType = BaseDnnModelType.Any
    type: DnnModelType = DnnModelType.Main
    submodel_type: str | None = None

    @property
    def value(self) -> dict[str, Any]:
        """The identifier as a workflow model input takes it (so ``set_input_value`` can use it)."""
        ident = self.to_api_format()
        if ident["submodel_type"] is None:
            del ident["submodel_type"]
        return ident

    def to_api_format(self) -> dict[str, Any]:
        """``{"key", "hash", "name", "base", "type", "submodel_type"}`` with plain strings."""
        return {
            "key": self.key,
            "hash": self.hash,
            "name": self.name,
            "base": self.base.value,
            "type": self.type.value,
            "submodel_type": self.submodel_type,
        }

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of a model identifier dict (missing keys take the defaults)."""
        known = ("key", "hash", "name", "base", "type", "submodel_type")
        return cls(**{k: data[k] for k in known if data.get(k) is not None})


IvkSDXLModelField = IvkModelIdentifierField
IvkFluxModelField = IvkModelIdentifierField
IvkT5EncoderField = IvkModelIdentifierField
IvkCLIPEmbedField = IvkModelIdentifierField
IvkVAEModelField = IvkModelIdentifierField


def _present(**parts: Any) -> dict[str, Any]:
    return {k: v for k, v in parts.items() if v}


class IvkUNetField(_IvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """A UNet configuration: model, scheduler, LoRAs, seamless axes, FreeU (the field is the value)."""

    unet_model: dict[str, str] | None = None
    scheduler: dict[str, str] | None = None
    loras: list[dict[str, Any]] = Field(default_factory=list)
    seamless_axes: list[str] = Field(default_factory=list)
    freeu_config: dict[str, Any] | None = None

    def to_api_format(self) -> dict[str, Any]:
        """The server's UNetField: ``{"unet", "scheduler", "loras", "seamless_axes", "freeu_config"}``."""
        return {
            **_present(unet=self.unet_model, scheduler=self.scheduler),
            "loras": self.loras,
            "seamless_axes": self.seamless_axes,
            **_present(freeu_config=self.freeu_config),
        }

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of a UNetField dict."""
        return cls(
            unet_model=data.get("unet"),
            scheduler=data.get("scheduler"),
            loras=data.get("loras") or [],
            seamless_axes=data.get("seamless_axes") or [],
            freeu_config=data.get("freeu_config"),
        )


class IvkCLIPField(_IvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """A CLIP configuration: tokenizer, text encoder, skipped layers, LoRAs (the field is the value)."""

    tokenizer: dict[str, str] | None = None
    text_encoder: dict[str, str] | None = None
    skipped_layers: int = 0
    loras: list[dict[str, Any]] = Field(default_factory=list)

    def to_api_format(self) -> dict[str, Any]:
        """The server's CLIPField: ``{"tokenizer", "text_encoder", "skipped_layers", "loras"}``."""
        return {
            **_present(tokenizer=self.tokenizer, text_encoder=self.text_encoder),
            "skipped_layers": self.skipped_layers,
            "loras": self.loras,
        }

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of a CLIPField dict."""
        return cls(
            tokenizer=data.get("tokenizer"),
            text_encoder=data.get("text_encoder"),
            skipped_layers=data.get("skipped_layers", 0),
            loras=data.get("loras") or [],
        )


class IvkTransformerField(_IvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """A FLUX transformer configuration: model and LoRAs (the field is the value)."""

    transformer_model: dict[str, str] | None = None
    loras: list[dict[str, Any]] = Field(default_factory=list)

    def to_api_format(self) -> dict[str, Any]:
        """The server's TransformerField: ``{"transformer", "loras"}``."""
        return {**_present(transformer=self.transformer_model), "loras": self.loras}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of a TransformerField dict."""
        return cls(transformer_model=data.get("transformer"), loras=data.get("loras") or [])


class IvkLoRAField(_IvkModel, PydanticFieldMixin, IvkField[dict[str, Any]]):
    """A LoRA and its weight (the field is the value)."""

    lora_model: dict[str, str] | None = None
    weight: float = 1.0

    def to_api_format(self) -> dict[str, Any]:
        """The server's LoRAField: ``{"lora", "weight"}``."""
        return {**_present(lora=self.lora_model), "weight": self.weight}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of a LoRAField dict."""
        return cls(lora_model=data.get("lora"), weight=data.get("weight", 1.0))
