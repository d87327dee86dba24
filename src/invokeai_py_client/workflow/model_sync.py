"""Match a workflow's model references to the models a server has installed (pure).

Rules, in order, never crossing model types:
1. the same hash; 2. the same key; 3. (by_name) the same name, and the same base
when the reference has one; 4. (by_base) another installed model of the same base
and type. Inputs the user set are left alone. The plan is all-or-nothing: when a
reference cannot be resolved, nothing changes and the error lists each unresolved
reference with its candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._compat.models import AttrDict
from .._exceptions import ValidationError
from ..model_manager import identifier

__all__ = ["ModelChange", "ModelReference", "is_model_identifier", "plan_model_sync"]

IDENTIFIER_KEYS = ("key", "hash", "name", "base", "type")


def is_model_identifier(value: Any) -> bool:
    """True for a ModelIdentifierField-shaped dict ({key, hash, name, base, type})."""
    return isinstance(value, Mapping) and "key" in value and "type" in value and "base" in value


@dataclass(frozen=True)
class ModelReference:
    """A model input of a workflow node, with the types and bases its field accepts."""

    node_id: str
    field_name: str
    value: Mapping[str, Any]
    accepted_types: tuple[str, ...] = ()
    accepted_bases: tuple[str, ...] = ()
    label: str | None = None

    @property
    def where(self) -> str:
        label = f" {self.label!r}" if self.label else ""
        return f"{self.node_id}.{self.field_name}{label}"

    @property
    def types(self) -> tuple[str, ...]:
        return (str(self.value["type"]),) if self.value.get("type") else self.accepted_types


@dataclass(frozen=True)
class ModelChange:
    """One substitution made by `sync_dnn_model`."""

    node_id: str
    field_name: str
    old: dict[str, Any]
    new: dict[str, Any]
    rule: str  # "hash", "key", "name" or "base"

    def __iter__(self) -> Iterator[AttrDict]:
        """Unpacks as ``(old, new)``, as 1.1.1's pairs did (both read by attribute too)."""
        return iter((AttrDict(self.old), AttrDict(self.new)))

    def __str__(self) -> str:
        return (
            f"{self.node_id}.{self.field_name}: {self.old.get('name')!r} -> {self.new.get('name')!r} "
            f"(matched by {self.rule})"
        )


def _same_kind(record: Mapping[str, Any], ref: ModelReference) -> bool:
    """Same model type, and a base the field accepts (when the schema says)."""
    if str(record.get("type")) not in ref.types:
        return False
    return not ref.accepted_bases or str(record.get("base")) in ref.accepted_bases


def _describe(record: Mapping[str, Any]) -> str:
    return f"{record.get('name')} ({record.get('base')}/{record.get('type')}, key {record.get('key')})"


def _match(
    ref: ModelReference, installed: Sequence[Mapping[str, Any]], *, by_name: bool, by_base: bool
) -> tuple[Mapping[str, Any] | None, str]:
    kind = [r for r in installed if _same_kind(r, ref)]
    value = ref.value
    for rule, wanted in (("hash", value.get("hash")), ("key", value.get("key"))):
        if wanted:
            hits = [r for r in kind if r.get(rule) == wanted]
            if hits:
                return hits[0], rule
    base = value.get("base")
    if by_name and value.get("name"):
        hits = [r for r in kind if r.get("name") == value["name"] and (not base or r.get("base") == base)]
        if len(hits) == 1:
            return hits[0], "name"
    if by_base:
        bases = (str(base),) if base else ref.accepted_bases
        hits = sorted((r for r in kind if str(r.get("base")) in bases), key=lambda r: str(r.get("name")))
        if hits:
            return hits[0], "base"
    return None, ""


def plan_model_sync(
    references: Iterable[ModelReference],
    installed: Sequence[Mapping[str, Any]],
    *,
    by_name: bool = True,
    by_base: bool = False,
) -> list[ModelChange]:
    """The changes that make every reference point at an installed model.

    Raises:
        ValidationError: some references have no match; `problems` lists each with
            the installed candidates of its type.
    """
    changes: list[ModelChange] = []
    problems: list[str] = []
    for ref in references:
        record, rule = _match(ref, installed, by_name=by_name, by_base=by_base)
        if record is None:
            candidates = [_describe(r) for r in installed if _same_kind(r, ref)]
            wanted = ref.value.get("name") or ref.value.get("key")
            problems.append(
                f"{ref.where}: no installed {'/'.join(ref.types) or 'model'} matches {wanted!r} "
                f"(base {ref.value.get('base')}); candidates: {', '.join(candidates) or 'none installed'}"
            )
            continue
        new = identifier(record, ref.value.get("submodel_type"))
        old = dict(ref.value)
        if {k: old.get(k) for k in IDENTIFIER_KEYS} != {k: new.get(k) for k in IDENTIFIER_KEYS}:
            changes.append(ModelChange(ref.node_id, ref.field_name, old, new, rule))
    if problems:
        raise ValidationError("cannot resolve the workflow's models; nothing was changed", problems)
    return changes
