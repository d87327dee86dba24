"""Typed input fields: the objects behind ``wf.get_input_value(i).value``.

Each Form input gets a field of its server-declared type (see `schema.InputSpec`).
Assigning ``.value`` checks the value at once and raises `ValidationError` with the
input named, the way Python reports a bad argument:

    >>> from invokeai_py_client.workflow.schema import InvocationCatalog
    >>> spec = InvocationCatalog.bundled().input_spec("noise", "seed")
    >>> seed = make_field(spec, 0, context="input 2 'Seed' (noise.seed)")
    >>> seed.value = -1
    Traceback (most recent call last):
      ...
    invokeai_py_client._exceptions.ValidationError: input 2 'Seed' (noise.seed): -1 is less than the minimum 0
    >>> seed.values = [1, 2, 3]         # a sweep: one queue item per value
    >>> seed.sweep_values
    (1, 2, 3)

Images, boards and models may be given in forms only the server can turn into graph
values (a local file, a board name, a model name). Such fields report it
(`pending_upload`, `needs_resolution`) and `resolved(resolver)` produces the final
value through a `Resolver` the workflow handle provides; nothing here talks HTTP.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from .._compat.fields import InputFieldCompat, ModelFieldCompat
from .._exceptions import ValidationError
from .schema import InputSpec

__all__ = [
    "BoardField",
    "BooleanField",
    "CollectionField",
    "ColorField",
    "EnumField",
    "FloatField",
    "GenericField",
    "ImageField",
    "InputField",
    "IntegerField",
    "ModelField",
    "Resolver",
    "StringField",
    "make_field",
]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_MODEL_KEYS = ("key", "hash", "name", "base", "type")


class Resolver(Protocol):
    """What turns local images, board names and model names into graph values."""

    def upload_image(self, image: Any) -> str:
        """Upload a local file (`pathlib.Path`) or a PIL image; return its image name."""
        ...

    def resolve_board(self, name: str) -> str:
        """The board id of a board name or id (the resolver decides whether to create it)."""
        ...

    def resolve_model(self, value: str, spec: InputSpec | None) -> dict[str, Any]:
        """The identifier of the installed model with this key or name that fits `spec`."""
        ...


class _Problem(Exception):
    """A value is wrong; the field adds its context and raises `ValidationError`."""


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


class InputField(InputFieldCompat):
    """One workflow input: its spec, its exported value and the value the user set."""

    kind: ClassVar[str] = "any"

    def __init__(
        self,
        spec: InputSpec | None,
        original: Any,
        *,
        context: str,
        form_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        self.context = context
        """How messages name the input, e.g. ``input 2 'Seed' (noise.seed)``."""
        self.form_settings: dict[str, Any] = dict(form_settings or {})
        self._original = original
        self._value = original
        self._is_set = False
        self._sweep: tuple[Any, ...] | None = None

    # -- the value --------------------------------------------------------------------

    @property
    def original(self) -> Any:
        """The value the exported workflow holds."""
        return self._original

    @property
    def value(self) -> Any:
        """The current value; assigning checks it and raises `ValidationError` if wrong."""
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value = self.validate(value)
        self._is_set = True
        self._sweep = None

    @property
    def values(self) -> tuple[Any, ...]:
        """The sweep's values, or the one current value; assign a list to sweep."""
        return self._sweep if self._sweep is not None else (self._value,)

    @values.setter
    def values(self, values: Sequence[Any] | None) -> None:
        if values is None:
            self._sweep = None
            return
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
            raise self._error(f"a sweep is a list of values, got {_describe(values)}")
        if not values:
            raise self._error("a sweep needs at least one value")
        checked = []
        for i, item in enumerate(values):
            try:
                checked.append(self._checked(item, form=True))
            except _Problem as exc:
                raise self._error(f"sweep value {i}: {exc}") from None
        self._sweep = tuple(checked)
        self._is_set = True

    @property
    def sweep_values(self) -> tuple[Any, ...] | None:
        """The values to sweep over (one queue item each), or None."""
        return self._sweep

    @property
    def is_set(self) -> bool:
        """True once the user assigned a value or a sweep."""
        return self._is_set

    def validate(self, value: Any) -> Any:
        """The value as this field stores it; raises `ValidationError` if it is wrong."""
        try:
            return self._checked(value, form=True)
        except _Problem as exc:
            raise self._error(str(exc)) from None

    def reset(self) -> None:
        """Forget what the user set: back to the exported value."""
        self._value = self._original
        self._is_set = False
        self._sweep = None

    def set_default(self, value: Any) -> None:
        """Replace the exported value (e.g. after model sync); a value the user set stays."""
        self._original = value
        if not self._is_set:
            self._value = value

    def copy_state_from(self, other: InputField) -> None:
        """Take over another field's exported value, value and sweep (deep copies)."""
        self._original = copy.deepcopy(other._original)
        self._value = copy.deepcopy(other._value)
        self._is_set = other._is_set
        self._sweep = copy.deepcopy(other._sweep)

    # -- completeness and graph values ----------------------------------------------------

    def validate_complete(self, *, connected: bool = False) -> list[str]:
        """Problems that would stop a run: a required input without value, a bad saved value.

        `connected`: an edge feeds the input, so its own value does not matter.
        """
        if connected:
            return []
        problems = []
        if self.spec is not None and self.spec.required and any(v is None for v in self.values):
            problems.append(f"{self.context}: a value is required")
        if not self._is_set and self._original is not None:
            try:
                self._checked(self._original, form=False)
            except _Problem as exc:
                problems.append(f"{self.context}: the workflow's saved value is invalid: {exc}")
        return problems

    @property
    def needs_resolution(self) -> bool:
        """Some value needs the server to become a graph value (upload, board or model lookup)."""
        return any(self._unresolved(v) for v in _leaves(self.values))

    def unresolved_values(self) -> list[Any]:
        """The values (current or swept) that need the server: local images, board and model names."""
        return [v for v in _leaves(self.values) if self._unresolved(v)]

    def detached(self) -> InputField:
        """A copy of this field with its own state (values are deep-copied)."""
        clone = copy.copy(self)
        clone.copy_state_from(self)
        return clone

    @property
    def pending_upload(self) -> bool:
        """Some value is a local file or PIL image that must be uploaded first."""
        return any(is_local_image(v) for v in _leaves(self.values))

    def to_graph_value(self) -> Any:
        """The current value as the graph's JSON; `ValidationError` if it needs resolving."""
        return self.graph_value_of(self._value)

    def graph_value_of(self, value: Any) -> Any:
        """One value (current or swept) as the graph's JSON, without any server lookup."""
        if any(self._unresolved(v) for v in _leaves((value,))):
            raise self._error(f"{_describe(value)} must be resolved against the server first")
        return self._graph(value)

    def resolved(self, resolver: Resolver) -> Any:
        """The current value as the graph's JSON, uploading/looking up through `resolver`."""
        return self._resolve(self._value, resolver)

    def resolved_sweep(self, resolver: Resolver) -> list[Any] | None:
        """The sweep's values as graph JSON (see `resolved`), or None without a sweep."""
        if self._sweep is None:
            return None
        return [self._resolve(v, resolver) for v in self._sweep]

    def __repr__(self) -> str:
        state = f"sweep={list(self._sweep)!r}" if self._sweep is not None else f"value={self._value!r}"
        return f"<{type(self).__name__} {self.context}: {state}>"

    # -- what subclasses define -----------------------------------------------------------

    def _checked(self, value: Any, *, form: bool) -> Any:
        if value is None and self._accepts_none():
            return None
        spec = self.spec
        if spec is not None and spec.cardinality == "single_or_collection" and isinstance(value, (list, tuple)):
            return [self._check_one(v, form=form) for v in value]
        return self._check_one(value, form=form)

    def _accepts_none(self) -> bool:
        return self.spec is None or self.spec.nullable

    def _check_one(self, value: Any, *, form: bool) -> Any:
        return value

    def _unresolved(self, value: Any) -> bool:
        return False

    def _graph(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._graph(v) for v in value]
        return copy.deepcopy(value)

    def _resolve(self, value: Any, resolver: Resolver) -> Any:
        if isinstance(value, list):
            return [self._resolve(v, resolver) for v in value]
        return self._graph(value)

    def _error(self, message: str) -> ValidationError:
        return ValidationError(f"{self.context}: {message}")


def _leaves(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        out.extend(_leaves(v) if isinstance(v, list) else [v])
    return out


def is_local_image(value: Any) -> bool:
    """A value to upload first: a `pathlib.Path` or a PIL image."""
    return isinstance(value, Path) or (type(value).__module__.startswith("PIL.") and hasattr(value, "save"))


# -- numbers ------------------------------------------------------------------------------


class _NumberField(InputField, abc.ABC):
    _what: ClassVar[str] = "a number"

    @property
    def minimum(self) -> int | float | None:
        """The inclusive minimum: the schema's, narrowed by the Form's settings."""
        return _tighter(self.spec.minimum if self.spec else None, self._form_bound("min"), max)

    @property
    def maximum(self) -> int | float | None:
        """The inclusive maximum: the schema's, narrowed by the Form's settings."""
        return _tighter(self.spec.maximum if self.spec else None, self._form_bound("max"), min)

    def _form_bound(self, key: str) -> int | float | None:
        bound = self.form_settings.get(key)
        return bound if isinstance(bound, (int, float)) and not isinstance(bound, bool) else None

    @abc.abstractmethod
    def _convert(self, value: Any) -> int | float:
        """The value as this field's number type; `_Problem` if it is not one."""

    def _check_one(self, value: Any, *, form: bool) -> Any:
        number = self._convert(value)
        spec = self.spec
        if spec is not None:
            if spec.minimum is not None and number < spec.minimum:
                raise _Problem(f"{number!r} is less than the minimum {spec.minimum!r}")
            if spec.maximum is not None and number > spec.maximum:
                raise _Problem(f"{number!r} is greater than the maximum {spec.maximum!r}")
            if spec.exclusive_minimum is not None and number <= spec.exclusive_minimum:
                raise _Problem(f"{number!r} is not greater than {spec.exclusive_minimum!r}")
            if spec.exclusive_maximum is not None and number >= spec.exclusive_maximum:
                raise _Problem(f"{number!r} is not less than {spec.exclusive_maximum!r}")
            step = spec.multiple_of
            if step and not math.isclose(number / step, round(number / step), abs_tol=1e-9):
                nearest = type(number)(round(number / step) * step)
                raise _Problem(f"{number!r} is not a multiple of {step!r} (nearest: {nearest!r})")
        if form:
            low, high = self._form_bound("min"), self._form_bound("max")
            if low is not None and number < low:
                raise _Problem(f"{number!r} is less than the Form's minimum {low!r}")
            if high is not None and number > high:
                raise _Problem(f"{number!r} is greater than the Form's maximum {high!r}")
        return number


def _tighter(a: int | float | None, b: int | float | None, pick: Any) -> int | float | None:
    if a is None or b is None:
        return a if b is None else b
    result: int | float = pick(a, b)
    return result


class IntegerField(_NumberField):
    """An integer input (booleans are rejected; a float with an integral value is accepted)."""

    kind = "integer"

    def _convert(self, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _Problem(f"expected an integer, got {_describe(value)}")


class FloatField(_NumberField):
    """A float input; integers are accepted and stored as floats."""

    kind = "float"

    def _convert(self, value: Any) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
            if not math.isfinite(number):
                raise _Problem(f"expected a finite number, got {value!r}")
            return number
        raise _Problem(f"expected a number, got {_describe(value)}")

    def _graph(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)  # a saved 7 is still a float input
        return super()._graph(value)


# -- strings, booleans, enums ----------------------------------------------------------------


MAX_STRING_LENGTH = 100_000
"""The longest string input sent: a 1 MB prompt held the server's processor for minutes
(and canceling it did not free the queue)."""


class StringField(InputField):
    """A string input; a Form dropdown limits it to its options."""

    kind = "string"

    @property
    def options(self) -> tuple[str, ...]:
        """The Form dropdown's option values (empty when the Form sets none)."""
        return tuple(value for _, value in self._dropdown())

    def _dropdown(self) -> list[tuple[str, str]]:
        if self.form_settings.get("component") != "dropdown":
            return []
        options = self.form_settings.get("options") or []
        return [
            (str(o.get("label", "")), str(o.get("value", "")))
            for o in options
            if isinstance(o, Mapping)
        ]

    def _check_one(self, value: Any, *, form: bool) -> Any:
        if not isinstance(value, str):
            raise _Problem(f"expected a string, got {_describe(value)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _Problem(f"character {exc.start} ({value[exc.start]!r}) is a lone surrogate, not text") from None
        if len(value) > MAX_STRING_LENGTH:
            raise _Problem(
                f"is {len(value):,} characters long; more than {MAX_STRING_LENGTH:,} would stall the "
                "server's prompt processing"
            )
        spec = self.spec
        if spec is not None and spec.min_length is not None and len(value) < spec.min_length:
            raise _Problem(f"{value!r} is shorter than {spec.min_length} characters")
        if spec is not None and spec.max_length is not None and len(value) > spec.max_length:
            raise _Problem(f"{value!r} is longer than {spec.max_length} characters")
        dropdown = self._dropdown() if form else []
        if dropdown and value not in {v for _, v in dropdown}:
            by_label = [v for label, v in dropdown if label == value]
            if len(by_label) == 1:
                return by_label[0]
            raise _Problem(_not_one_of(value, [v for _, v in dropdown], "the Form's options "))
        return value


class BooleanField(InputField):
    """A boolean input (only True or False)."""

    kind = "boolean"

    def _check_one(self, value: Any, *, form: bool) -> Any:
        if not isinstance(value, bool):
            raise _Problem(f"expected True or False, got {_describe(value)}")
        return value


class EnumField(InputField):
    """A choice among the schema's options (schedulers, modes, ...)."""

    kind = "enum"

    @property
    def options(self) -> tuple[Any, ...]:
        """The values the server accepts."""
        return self.spec.options if self.spec is not None else ()

    def _check_one(self, value: Any, *, form: bool) -> Any:
        options = self.options
        if options and not any(type(o) is type(value) and o == value for o in options):
            raise _Problem(_not_one_of(value, list(options)))
        return value


def _not_one_of(value: Any, options: Sequence[Any], where: str = "") -> str:
    message = f"{value!r} is not one of {where}{', '.join(repr(o) for o in options)}"
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [o for o in options if isinstance(o, str)], n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    return message


# -- colors, images, boards, models --------------------------------------------------------


class ColorField(InputField):
    """An RGBA color: ``{'r', 'g', 'b', 'a'}`` ints 0-255, an (r, g, b[, a]) tuple or '#rrggbb[aa]'."""

    kind = "color"

    def _check_one(self, value: Any, *, form: bool) -> Any:
        if isinstance(value, str) and re.fullmatch(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})", value):
            digits = value.lstrip("#")
            value = tuple(int(digits[i : i + 2], 16) for i in range(0, len(digits), 2))
        if isinstance(value, (tuple, list)) and len(value) in (3, 4):
            value = dict(zip("rgba", value, strict=False))
        if not isinstance(value, Mapping) or not {"r", "g", "b"} <= set(value):
            raise _Problem(f"expected a color {{'r', 'g', 'b', 'a'}} or (r, g, b[, a]), got {_describe(value)}")
        color = {c: value.get(c, 255) for c in "rgba"}
        for c, v in color.items():
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 255:
                raise _Problem(f"color component {c!r} must be an integer 0-255, got {v!r}")
        return color


class ImageField(InputField):
    """An image: an image name, ``{'image_name': ...}``, a local file path or a PIL image.

    Names are kept as ``{'image_name': name}`` (what the graph takes) and read back as
    the name. A str is read as a local file when it names an existing file or
    contains a path separator; local files and PIL images are uploaded at submit
    (`pending_upload`).
    """

    kind = "image"

    @property
    def value(self) -> Any:
        """The image name; a local file or PIL image until the submit uploads it."""
        value = self._value
        return value["image_name"] if isinstance(value, Mapping) and set(value) == {"image_name"} else value

    @value.setter
    def value(self, value: Any) -> None:
        InputField.value.fset(self, value)  # type: ignore[attr-defined]

    def _check_one(self, value: Any, *, form: bool) -> Any:
        if is_local_image(value):
            if isinstance(value, Path):
                path = value.expanduser()
                if not path.is_file():
                    raise _Problem(f"no such image file: {str(value)!r}")
                return path
            return value
        if isinstance(value, Mapping):
            name = value.get("image_name")
            if not isinstance(name, str) or not name.strip():
                raise _Problem(f"an image dict needs a non-empty 'image_name', got {value!r}")
            return {"image_name": name}
        if isinstance(value, str) and value.strip():
            if any(sep in value for sep in ("/", "\\")) or value.startswith("~") or Path(value).is_file():
                return self._check_one(Path(value), form=form)
            return {"image_name": value}
        raise _Problem(f"expected an image name, a file path or a PIL image, got {_describe(value)}")

    def _unresolved(self, value: Any) -> bool:
        return is_local_image(value)

    def _resolve(self, value: Any, resolver: Resolver) -> Any:
        if is_local_image(value):
            return {"image_name": resolver.upload_image(value)}
        return super()._resolve(value, resolver)


class BoardField(InputField):
    """A board: its id, its name, ``{'board_id': ...}``, None/'none' (uncategorized) or 'auto'.

    'auto' is the GUI's auto-add board, decided when the graph is built. A name (any
    other string that is not a board id) is looked up at submit (`needs_resolution`).
    """

    kind = "board"

    def _accepts_none(self) -> bool:
        return False

    def _check_one(self, value: Any, *, form: bool) -> Any:
        if value is None or value == "none":
            return "none"
        if value in ("", "auto"):
            return "auto"
        if isinstance(value, Mapping):
            board_id = value.get("board_id")
            if not isinstance(board_id, str) or not board_id:
                raise _Problem(f"a board dict needs a non-empty 'board_id', got {value!r}")
            return {"board_id": board_id}
        if isinstance(value, str):
            return value
        raise _Problem(f"expected a board id or name, got {_describe(value)}")

    def _unresolved(self, value: Any) -> bool:
        return isinstance(value, str) and value not in ("none", "auto") and not _UUID.match(value)

    def _graph(self, value: Any) -> Any:
        if isinstance(value, str) and _UUID.match(value):
            return {"board_id": value}
        return super()._graph(value)

    def _resolve(self, value: Any, resolver: Resolver) -> Any:
        if self._unresolved(value):
            return {"board_id": resolver.resolve_board(value)}
        return self._graph(value)


class ModelField(ModelFieldCompat, InputField):
    """A model: a full identifier ``{key, hash, name, base, type}``, or a key or name to look up."""

    kind = "model"

    @property
    def accepted_model_types(self) -> tuple[str, ...]:
        """Model types this input takes (empty: any)."""
        return self.spec.model_types if self.spec is not None else ()

    @property
    def accepted_model_bases(self) -> tuple[str, ...]:
        """Model bases this input takes (empty: any)."""
        return self.spec.model_bases if self.spec is not None else ()

    def _check_one(self, value: Any, *, form: bool) -> Any:
        if isinstance(value, str) and value.strip():
            return value
        if not isinstance(value, Mapping):
            raise _Problem(f"expected a model identifier, key or name, got {_describe(value)}")
        missing = [k for k in _MODEL_KEYS if not isinstance(value.get(k), str)]
        if missing:
            raise _Problem(
                f"a model identifier needs {', '.join(_MODEL_KEYS)} (missing {', '.join(missing)}); "
                "pass a model key or name to look it up"
            )
        label = value["name"]
        types, bases = self.accepted_model_types, self.accepted_model_bases
        if types and value["type"] not in types:
            raise _Problem(f"model {label!r} is a {value['type']} model; this input takes {'/'.join(types)}")
        if bases and value["base"] not in bases:
            raise _Problem(f"model {label!r} has base {value['base']}; this input takes base {'/'.join(bases)}")
        return dict(value)

    def _unresolved(self, value: Any) -> bool:
        return isinstance(value, str)

    def _resolve(self, value: Any, resolver: Resolver) -> Any:
        if isinstance(value, str):
            return resolver.resolve_model(value, self.spec)
        return super()._resolve(value, resolver)


# -- collections and everything else ---------------------------------------------------------


class CollectionField(InputField):
    """A list input; each item is checked as its item type when the schema names one."""

    kind = "collection"

    def __init__(
        self,
        spec: InputSpec | None,
        original: Any,
        *,
        context: str,
        form_settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, original, context=context, form_settings=form_settings)
        item_spec = None
        if spec is not None and spec.item_kind is not None:
            item_spec = dataclasses.replace(
                spec, kind=spec.item_kind, cardinality="single", item_kind=None, nullable=False,
                min_items=None, max_items=None,
            )
        self._item: InputField = make_field(item_spec, None, context=context)

    def _check_one(self, value: Any, *, form: bool) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _Problem(f"expected a list, got {_describe(value)}")
        spec = self.spec
        if spec is not None and spec.min_items is not None and len(value) < spec.min_items:
            raise _Problem(f"has {len(value)} items, fewer than {spec.min_items}")
        if spec is not None and spec.max_items is not None and len(value) > spec.max_items:
            raise _Problem(f"has {len(value)} items, more than {spec.max_items}")
        items = []
        for i, item in enumerate(value):
            try:
                items.append(self._item._checked(item, form=False))
            except _Problem as exc:
                raise _Problem(f"item {i}: {exc}") from None
        return items

    def _unresolved(self, value: Any) -> bool:
        return self._item._unresolved(value)

    def _graph(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._item._graph(v) for v in value]
        return copy.deepcopy(value)

    def _resolve(self, value: Any, resolver: Resolver) -> Any:
        if isinstance(value, list):
            return [self._item._resolve(v, resolver) for v in value]
        return copy.deepcopy(value)


class GenericField(InputField):
    """Any other input (structured or unknown to the schema): a JSON value kept as is."""

    kind = "any"

    def _check_one(self, value: Any, *, form: bool) -> Any:
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise _Problem(f"{_describe(value)} is not a JSON value") from None
        return copy.deepcopy(value)


_FIELD_CLASSES: dict[str, type[InputField]] = {
    "integer": IntegerField,
    "float": FloatField,
    "string": StringField,
    "boolean": BooleanField,
    "enum": EnumField,
    "color": ColorField,
    "image": ImageField,
    "board": BoardField,
    "model": ModelField,
    "collection": CollectionField,
}


def make_field(
    spec: InputSpec | None,
    original_value: Any,
    *,
    context: str,
    form_settings: Mapping[str, Any] | None = None,
) -> InputField:
    """The typed field for an input of `spec` (a `GenericField` when the spec is None).

    `form_settings` is the Form element's ``data.settings``: its min/max narrow a
    number input, its dropdown options limit a string input.
    """
    cls = _FIELD_CLASSES.get(spec.kind, GenericField) if spec is not None else GenericField
    return cls(spec, original_value, context=context, form_settings=form_settings)
