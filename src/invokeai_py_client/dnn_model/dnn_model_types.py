"""1.1.1's model record and its enums: ours under 1.1.1's names (same objects)."""

from ..model_manager import BaseModelType as BaseDnnModelType
from ..model_manager import ModelFormat as DnnModelFormat
from ..model_manager import ModelRecord as DnnModel
from ..model_manager import ModelType as DnnModelType

__all__ = ["BaseDnnModelType", "DnnModel", "DnnModelFormat", "DnnModelType"]
