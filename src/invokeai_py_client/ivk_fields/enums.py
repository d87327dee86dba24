"""Compatibility surface for invokeai-py-client 1.1.1: choice fields and scheduler names.

The name lists come from InvokeAI's own schema (6.14.2): `SCHEDULER_NAMES` from
``denoise_latents.scheduler``, `INTERPOLATION_MODES` from ``lresize.mode`` and
`COLOR_MODES` from ``img_conv.mode``. They differ from 1.1.1's where the server
does: the scheduler ``er_sde`` and the interpolation ``nearest-exact`` are added,
and the color modes are PIL's that the server accepts (1.1.1 listed "LA", which it
rejects).

Workflow inputs come back as the handle's own fields (``wf.get_input_value(i)``);
for a scheduler that is an enum field, which passes ``isinstance`` checks against
both `IvkEnumField` and `IvkSchedulerField`.
"""

from __future__ import annotations

import re
from enum import Enum, StrEnum
from typing import Any, Self

from pydantic import Field, ValidationInfo, field_validator

from .base import IvkField, PydanticFieldMixin, _NamedIvkModel

__all__ = [
    "COLOR_MODES",
    "INTERPOLATION_MODES",
    "SCHEDULER_NAMES",
    "IvkColorModeField",
    "IvkEnumField",
    "IvkField",
    "IvkInterpolationField",
    "IvkLiteralField",
    "IvkSchedulerField",
    "PydanticFieldMixin",
    "SchedulerName",
]


class SchedulerName(StrEnum):
    """InvokeAI's scheduler names, in the server's order (``str(SchedulerName.EULER)`` is ``"euler"``)."""

    DDIM = "ddim"
    DDPM = "ddpm"
    DEIS = "deis"
    DEIS_K = "deis_k"
    LMS = "lms"
    LMS_K = "lms_k"
    PNDM = "pndm"
    HEUN = "heun"
    HEUN_K = "heun_k"
    EULER = "euler"
    EULER_K = "euler_k"
    EULER_A = "euler_a"
    KDPM_2 = "kdpm_2"
    KDPM_2_K = "kdpm_2_k"
    KDPM_2_A = "kdpm_2_a"
    KDPM_2_A_K = "kdpm_2_a_k"
    DPMPP_2S = "dpmpp_2s"
    DPMPP_2S_K = "dpmpp_2s_k"
    DPMPP_2M = "dpmpp_2m"
    DPMPP_2M_K = "dpmpp_2m_k"
    DPMPP_2M_SDE = "dpmpp_2m_sde"
    DPMPP_2M_SDE_K = "dpmpp_2m_sde_k"
    DPMPP_3M = "dpmpp_3m"
    DPMPP_3M_K = "dpmpp_3m_k"
    DPMPP_SDE = "dpmpp_sde"
    DPMPP_SDE_K = "dpmpp_sde_k"
    ER_SDE = "er_sde"
    UNIPC = "unipc"
    UNIPC_K = "unipc_k"
    LCM = "lcm"
    TCD = "tcd"


SCHEDULER_NAMES: list[str] = [s.value for s in SchedulerName]
INTERPOLATION_MODES: list[str] = ["nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact"]
COLOR_MODES: list[str] = ["L", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F"]

# The GUI's labels spell the suffixes out: "DPM++ 2M Karras" is dpmpp_2m_k,
# "Euler Ancestral" (A1111: "Euler a") is euler_a.
_WORDS = {"karras": "k", "ancestral": "a"}


def _one_of(v: str | None, allowed: list[str], what: str) -> str | None:
    if v is not None and allowed and v not in allowed:
        raise ValueError(f"{v!r} is not one of the {what}: {', '.join(allowed)}")
    return v


class IvkEnumField(_NamedIvkModel, PydanticFieldMixin, IvkField[str]):
    """One of ``choices`` (any string when ``choices`` is empty)."""

    choices: list[str] = Field(default_factory=list)
    value: str | None = None

    @field_validator("value")
    @classmethod
    def validate_enum_choice(cls, v: str | None, info: ValidationInfo) -> str | None:
        """The value if ``choices`` is empty or holds it."""
        return _one_of(v, info.data.get("choices") or [], "choices")

    def to_api_format(self) -> dict[str, Any]:
        """``{"value", "type": "enum", "choices"}``."""
        return {"value": self.value, "type": "enum", "choices": self.choices}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": ..., "choices": [...]}`` (a subclass keeps its own choices)."""
        if "choices" in data and cls is IvkEnumField:
            return cls(value=data.get("value"), choices=data["choices"])
        return cls(value=data.get("value"))

    def get_choices(self) -> list[str]:
        """A copy of the choices."""
        return list(self.choices)

    def add_choice(self, choice: str) -> None:
        """Allow `choice` too."""
        if choice not in self.choices:
            self.choices.append(choice)

    def remove_choice(self, choice: str) -> None:
        """Stop allowing `choice`; a value equal to it becomes None."""
        if choice in self.choices:
            self.choices.remove(choice)
            if self.value == choice:
                self.value = None


class IvkSchedulerField(IvkEnumField):
    """A scheduler: one of `SCHEDULER_NAMES`; aliases are normalized on assignment.

    >>> fld = IvkSchedulerField(value="DPM++ 2M Karras")
    >>> fld.value
    'dpmpp_2m_k'
    """

    choices: list[str] = Field(default_factory=lambda: list(SCHEDULER_NAMES))

    @field_validator("value", mode="before")
    @classmethod
    def _alias(cls, v: Any) -> Any:
        return cls.normalize_alias(v) if isinstance(v, str) else v

    def to_api_format(self) -> dict[str, Any]:
        """``{"value", "type": "scheduler", "choices": SCHEDULER_NAMES}``."""
        return {"value": self.value, "type": "scheduler", "choices": list(SCHEDULER_NAMES)}

    @staticmethod
    def normalize_alias(name: str) -> str:
        """InvokeAI's name for a scheduler given by another spelling; other names unchanged.

        Takes `SchedulerName` members, any case, "-" or " " for "_", and the GUI's
        labels ("DPM++ 2M Karras" -> "dpmpp_2m_k", "Euler Ancestral" or "euler a" ->
        "euler_a"). A name that is none of these comes back as given, for the field
        to reject with the list of choices.
        """
        text = name.value if isinstance(name, Enum) else name
        if text in SCHEDULER_NAMES:
            return text
        words = re.split(r"[^a-z0-9]+", text.strip().lower().replace("++", "pp"))
        candidate = "_".join(_WORDS.get(w, w) for w in words if w)
        return candidate if candidate in SCHEDULER_NAMES else text


class IvkInterpolationField(IvkEnumField):
    """An interpolation mode for resizing latents: one of `INTERPOLATION_MODES`."""

    choices: list[str] = Field(default_factory=lambda: list(INTERPOLATION_MODES))

    def to_api_format(self) -> dict[str, Any]:
        """``{"value", "type": "interpolation"}``."""
        return {"value": self.value, "type": "interpolation"}


class IvkColorModeField(IvkEnumField):
    """A PIL color mode the server converts images to: one of `COLOR_MODES`."""

    choices: list[str] = Field(default_factory=lambda: list(COLOR_MODES))

    def to_api_format(self) -> dict[str, Any]:
        """``{"value", "type": "color_mode"}``."""
        return {"value": self.value, "type": "color_mode"}


class IvkLiteralField(_NamedIvkModel, PydanticFieldMixin, IvkField[str]):
    """One of ``literals`` (any string when ``literals`` is empty)."""

    literals: list[str] = Field(default_factory=list)
    value: str | None = None

    @field_validator("value")
    @classmethod
    def validate_literal_choice(cls, v: str | None, info: ValidationInfo) -> str | None:
        """The value if ``literals`` is empty or holds it."""
        return _one_of(v, info.data.get("literals") or [], "literals")

    def to_api_format(self) -> dict[str, Any]:
        """``{"value", "type": "literal", "literals"}``."""
        return {"value": self.value, "type": "literal", "literals": self.literals}

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """The field of ``{"value": ..., "literals": [...]}``."""
        return cls(value=data.get("value"), literals=data.get("literals") or [])

    def get_literals(self) -> list[str]:
        """A copy of the literals."""
        return list(self.literals)
