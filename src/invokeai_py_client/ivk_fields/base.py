"""Compatibility surface for invokeai-py-client 1.1.1: the bases of its ``Ivk*Field`` classes.

Scripts written for 1.1.1 import these names; ours keeps them so those scripts run.
New code uses the workflow handle's own fields (`invokeai_py_client.workflow.fields`),
which are what ``wf.get_input_value(i)`` returns; they pass 1.1.1's ``isinstance``
checks against the classes here because ``ivk_fields/__init__.py`` registers them
as virtual subclasses (ABC ``register()``).
"""

from __future__ import annotations

import asyncio
from abc import ABCMeta, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict

# pydantic keeps its model metaclass in a private module; subclassing it is how
# `register()` is made to work: pydantic's own isinstance never consults registrations.
from pydantic._internal._model_construction import ModelMetaclass

if TYPE_CHECKING:
    from ..client import InvokeAIClient

__all__ = ["IvkCollectionFieldMixin", "IvkField", "IvkImageFieldMixin", "PydanticFieldMixin"]

T = TypeVar("T")
_S = TypeVar("_S", bound=type)

_VIRTUAL: dict[type, tuple[type, ...]] = {}


class _IvkModelMeta(ModelMetaclass):
    """pydantic's model metaclass, with ABC-style ``register()`` that isinstance honours.

    pydantic turns off virtual subclasses for speed; the field classes of this package
    need them so that our own workflow fields pass 1.1.1 scripts' checks such as
    ``isinstance(wf.get_input_value(1), IvkStringField)``. A registration applies to
    the class it is made on, not to its subclasses.
    """

    def register(cls, subclass: _S) -> _S:
        _VIRTUAL[cls] = (*_VIRTUAL.get(cls, ()), subclass)
        ABCMeta.register(cls, subclass)  # bumps the ABC caches of the non-pydantic bases
        return subclass

    def __instancecheck__(cls, instance: Any) -> bool:
        return type.__instancecheck__(cls, instance) or isinstance(instance, _VIRTUAL.get(cls, ()))

    def __subclasscheck__(cls, subclass: type) -> bool:
        return type.__subclasscheck__(cls, subclass) or issubclass(subclass, _VIRTUAL.get(cls, ()))


class IvkField(Generic[T], metaclass=ABCMeta):
    """The base of every 1.1.1 field class; `T` is the type of the value it holds."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    @abstractmethod
    def validate_field(self) -> bool:
        """True if the value is valid; raises ValueError otherwise."""

    @abstractmethod
    def to_api_format(self) -> dict[str, Any]:
        """The field as InvokeAI's API spells it."""

    @classmethod
    @abstractmethod
    def from_api_format(cls, data: dict[str, Any]) -> IvkField[T]:
        """A field built from what `to_api_format` returns."""

    @classmethod
    @abstractmethod
    def from_json_dict(cls, data: dict[str, Any]) -> IvkField[T]:
        """A field built from what `to_json_dict` returns."""

    @abstractmethod
    def to_json_dict(self) -> dict[str, Any]:
        """The field's attributes as a JSON-like dict."""


class PydanticFieldMixin:
    """`to_json_dict`/`from_json_dict` for fields that are pydantic models."""

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Any:
        """The field `to_json_dict` described (pydantic ``model_validate``)."""
        if issubclass(cls, BaseModel):
            return cls.model_validate(data)
        return cls(**data)

    def to_json_dict(self) -> dict[str, Any]:
        """Every attribute, extra ones included (pydantic ``model_dump``)."""
        if isinstance(self, BaseModel):
            return self.model_dump()
        return dict(vars(self))


class IvkImageFieldMixin:
    """1.1.1's image field hooks: upload a local file it holds, download the image it names.

    (An image input of a workflow also takes a `pathlib.Path`: it is uploaded at submit.)
    """

    value: Any

    async def upload(self, client: InvokeAIClient) -> str:
        """Upload the local file this field holds (uncategorized); the field then holds its name."""
        path = Path(str(self.value)).expanduser()
        if not path.is_file():
            raise ValueError(f"{type(self).__name__}.upload: no local file {str(self.value)!r}")
        board = client.board_repo.uncategorized()
        image = await asyncio.to_thread(board.upload_image, path)
        self.value = image.image_name
        return image.image_name

    async def download(self, client: InvokeAIClient, output_path: Path | None = None) -> Path:
        """Save the image this field names (full resolution) to `output_path` (default: its name here)."""
        name = str(self.value)
        dest = Path(output_path) if output_path is not None else Path(name)
        return await asyncio.to_thread(client.image_repo.download_to, name, dest)


class IvkCollectionFieldMixin(Generic[T]):
    """The list operations of a collection field (implemented by `IvkCollectionField`)."""

    @abstractmethod
    def append(self, item: T) -> None:
        """Add an item at the end."""

    @abstractmethod
    def remove(self, item: T) -> None:
        """Remove the first item equal to `item`."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every item."""

    @abstractmethod
    def __len__(self) -> int:
        """How many items there are."""

    @abstractmethod
    def iter_items(self) -> Iterator[T]:
        """The items, in order."""


class _IvkModel(BaseModel, metaclass=_IvkModelMeta):
    """What every 1.1.1 field class is: a pydantic model validated on each assignment.

    Keyword-only construction, extra attributes kept (``extra="allow"``), and an
    assignment that breaks a constraint raises `pydantic.ValidationError` (a
    ValueError) and leaves the old value in place.
    """

    model_config = ConfigDict(validate_assignment=True, extra="allow")

    def validate_field(self) -> bool:
        """Check the field as it is now (constraints changed after the value included).

        Returns True; raises `pydantic.ValidationError` (a ValueError) if it is invalid.
        """
        type(self).model_validate(self.model_dump())
        return True

    @classmethod
    def from_api_format(cls, data: dict[str, Any]) -> Self:
        """A field holding the value of `data` (what `to_api_format` returns)."""
        return cls(value=data.get("value"))


class _NamedIvkModel(_IvkModel):
    """A field that also carries a display ``name`` and ``description`` (never sent)."""

    name: str | None = None
    description: str | None = None


def _named(key: str, data: Any) -> Any:
    """``data[key]`` when `data` is a dict (an API reference such as ``{"image_name": n}``), else `data`."""
    return data.get(key) if isinstance(data, dict) else data
