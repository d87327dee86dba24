"""Compatibility surface for invokeai-py-client 1.1.1: its ``Ivk*Field`` classes.

Scripts written for 1.1.1 import these names and keep working. New code does not
need them: ``wf.get_input_value(i)`` returns the workflow's own typed fields
(`invokeai_py_client.workflow.fields`). Those fields pass 1.1.1's ``isinstance``
checks against the classes here, so a 1.1.1 script's

    >>> fld = wf.get_input_value(1)                      # doctest: +SKIP
    >>> assert isinstance(fld, IvkStringField)            # doctest: +SKIP
    >>> fld.value = "a lighthouse at dusk"                # doctest: +SKIP

runs unchanged. The Ivk classes themselves are small standalone pydantic models with
1.1.1's attributes and methods (``validate_field``, ``to_api_format``,
``to_json_dict``/``from_json_dict``, ``IvkSchedulerField.normalize_alias``).
"""

from __future__ import annotations

from ..workflow import fields as _core
from .base import IvkCollectionFieldMixin, IvkField, IvkImageFieldMixin
from .complex import IvkBoundingBoxField, IvkCollectionField, IvkColorField
from .conditioning import (
    IvkCogView4ConditioningField,
    IvkConditioningField,
    IvkFluxConditioningField,
    IvkFluxFillConditioningField,
    IvkFluxKontextConditioningField,
    IvkFluxReduxConditioningField,
    IvkSD3ConditioningField,
)
from .enums import (
    COLOR_MODES,
    INTERPOLATION_MODES,
    SCHEDULER_NAMES,
    IvkColorModeField,
    IvkEnumField,
    IvkInterpolationField,
    IvkLiteralField,
    IvkSchedulerField,
    SchedulerName,
)
from .models import (
    IvkCLIPEmbedField,
    IvkCLIPField,
    IvkFluxModelField,
    IvkLoRAField,
    IvkModelIdentifierField,
    IvkSDXLModelField,
    IvkT5EncoderField,
    IvkTransformerField,
    IvkUNetField,
    IvkVAEModelField,
)
from .primitives import IvkBooleanField, IvkFloatField, IvkIntegerField, IvkStringField
from .resources import (
    IvkBoardField,
    IvkDenoiseMaskField,
    IvkImageField,
    IvkLatentsField,
    IvkMetadataField,
    IvkTensorField,
)

__all__ = [  # noqa: RUF022 -- 1.1.1's order
    "IvkField",
    "IvkImageFieldMixin",
    "IvkCollectionFieldMixin",
    "IvkStringField",
    "IvkIntegerField",
    "IvkFloatField",
    "IvkBooleanField",
    "IvkImageField",
    "IvkBoardField",
    "IvkLatentsField",
    "IvkTensorField",
    "IvkDenoiseMaskField",
    "IvkMetadataField",
    "IvkModelIdentifierField",
    "IvkUNetField",
    "IvkCLIPField",
    "IvkTransformerField",
    "IvkLoRAField",
    "IvkSDXLModelField",
    "IvkFluxModelField",
    "IvkT5EncoderField",
    "IvkCLIPEmbedField",
    "IvkVAEModelField",
    "IvkConditioningField",
    "IvkFluxConditioningField",
    "IvkFluxReduxConditioningField",
    "IvkFluxFillConditioningField",
    "IvkFluxKontextConditioningField",
    "IvkSD3ConditioningField",
    "IvkCogView4ConditioningField",
    "IvkColorField",
    "IvkBoundingBoxField",
    "IvkCollectionField",
    "IvkEnumField",
    "IvkSchedulerField",
    "IvkInterpolationField",
    "IvkColorModeField",
    "IvkLiteralField",
    "SchedulerName",
    "SCHEDULER_NAMES",
    "INTERPOLATION_MODES",
    "COLOR_MODES",
]

# Which of our workflow fields a 1.1.1 script's isinstance check should accept.
# 1.1.1 gave a scheduler input an IvkEnumField; ours are EnumFields, and scripts
# test them against either class.
IvkField.register(_core.InputField)
for _ivk, _ours in (
    (IvkStringField, _core.StringField),
    (IvkIntegerField, _core.IntegerField),
    (IvkFloatField, _core.FloatField),
    (IvkBooleanField, _core.BooleanField),
    (IvkEnumField, _core.EnumField),
    (IvkSchedulerField, _core.EnumField),
    (IvkColorField, _core.ColorField),
    (IvkImageField, _core.ImageField),
    (IvkBoardField, _core.BoardField),
    (IvkModelIdentifierField, _core.ModelField),
    (IvkCollectionField, _core.CollectionField),
):
    _ivk.register(_ours)
del _ivk, _ours
