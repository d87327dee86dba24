"""What the server offers, learned from its own `/openapi.json`: its routes and schemas.

Operations ask `has(method, route)` and pick their path (a bulk route where it exists,
one request per item otherwise); a feature the server lacks raises
`UnsupportedByServerError` naming its version and the missing route. Nothing here
compares version numbers to decide what a server can do: the server's schema says.

The schema is fetched once per client, lazily (`server_schema()`). When it cannot be
had, the snapshot shipped for the nearest older tested release stands in (see
`scripts/make_schema_snapshot.py`; snapshots hold routes and invocation inputs only).

    >>> schema = ServerSchema.from_openapi(bundled_document("5.15.0"), version="5.15.0")
    >>> schema.has("POST", "/api/v1/queue/{queue_id}/items_by_ids")
    False
    >>> schema.has("GET", "/api/v1/queue/{queue_id}/i/{item_id}")
    True
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ._exceptions import InvokeAIError, UnsupportedByServerError
from ._flow import Flow, Once, call

__all__ = [
    "SNAPSHOT_VERSIONS",
    "ServerSchema",
    "bundled_document",
    "server_schema",
    "version_key",
]

log = logging.getLogger("invokeai_py_client")

VERSION_KEY = "x-invokeai-version"
_SNAPSHOT = re.compile(r"^invokeai-(.+)-openapi\.json\.gz$")
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[.-]?(a|b|rc|dev)\.?(\d*))?")
_PRE_RANK = {"dev": 0, "a": 1, "b": 2, "rc": 3}


def version_key(version: str) -> tuple[int, int, int, int, int]:
    """A sort key for InvokeAI version strings: `6.14.0rc2` < `6.14.0` < `6.14.2`.

    Unparseable strings sort first.
    """
    match = _VERSION.match(version.strip())
    if not match:
        return (-1, -1, -1, -1, -1)
    major, minor, patch, pre, pre_number = match.groups()
    pre_rank = _PRE_RANK[pre] if pre else 9
    return (int(major), int(minor), int(patch or 0), pre_rank, int(pre_number or 0))


def _data_dir() -> Any:
    return resources.files(__package__).joinpath("data")


def _snapshot_versions() -> tuple[str, ...]:
    found = [m.group(1) for p in _data_dir().iterdir() if (m := _SNAPSHOT.match(p.name))]
    return tuple(sorted(found, key=version_key))


SNAPSHOT_VERSIONS: tuple[str, ...] = _snapshot_versions()
"""The releases whose schema snapshot ships with the package, oldest first."""


def snapshot_for(version: str | None) -> str:
    """The snapshot standing in for `version`: the newest one not newer than it.

    An unknown version gets the newest snapshot; one older than every snapshot, the oldest.
    """
    if version is None or version_key(version) < (0,):
        return SNAPSHOT_VERSIONS[-1]
    older = [v for v in SNAPSHOT_VERSIONS if version_key(v) <= version_key(version)]
    return older[-1] if older else SNAPSHOT_VERSIONS[0]


@functools.lru_cache(maxsize=8)
def bundled_document(version: str | None = None) -> Mapping[str, Any]:
    """The shipped schema snapshot standing in for `version` (see `snapshot_for`)."""
    name = f"invokeai-{snapshot_for(version)}-openapi.json.gz"
    document: Mapping[str, Any] = json.loads(gzip.decompress(_data_dir().joinpath(name).read_bytes()))
    return document


def routes_of(document: Mapping[str, Any]) -> frozenset[str]:
    """Every operation of an OpenAPI document as ``"METHOD /path/{param}"``."""
    paths = document.get("paths")
    if not isinstance(paths, Mapping):
        return frozenset()
    return frozenset(
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if isinstance(operations, Mapping)
        for method in operations
        if method in _HTTP_METHODS
    )


@dataclass(frozen=True)
class ServerSchema:
    """One server's OpenAPI document, read for what operations need to know."""

    version: str | None
    """The InvokeAI version the server reports (`/api/v1/app/version`), when known."""
    routes: frozenset[str]
    document: Mapping[str, Any] = field(repr=False, compare=False)
    source: str = "server"
    """'server' (its live /openapi.json) or 'snapshot X' (the shipped one standing in)."""

    @classmethod
    def from_openapi(
        cls, document: Mapping[str, Any], *, version: str | None = None, source: str = "server"
    ) -> ServerSchema:
        found = version if version is not None else document.get(VERSION_KEY)
        return cls(
            version=found if isinstance(found, str) else None,
            routes=routes_of(document),
            document=document,
            source=source,
        )

    def has(self, method: str, route: str) -> bool:
        """Whether the server has `route` (a path template, e.g. ``/api/v1/queue/{queue_id}/list``)."""
        return f"{method.upper()} {route}" in self.routes

    def require(self, method: str, route: str, feature: str) -> None:
        """Raise `UnsupportedByServerError` unless the server has `route`."""
        if not self.has(method, route):
            raise UnsupportedByServerError(
                f"{feature} needs {method.upper()} {route}, which InvokeAI {self.version or '(unknown version)'} "
                "does not have; a newer InvokeAI server does",
                server_version=self.version,
                route=f"{method.upper()} {route}",
                feature=feature,
            )


def server_schema_flow() -> Flow[ServerSchema]:
    """The server's schema: the shipped snapshot of its release when there is one (a
    1 KB version request instead of a 1.8 MB `/openapi.json`), else its `/openapi.json`,
    else the nearest snapshot.

    A server's own node packs add node types a snapshot lacks: workflows using them
    fetch the live schema (`live_schema_flow`).
    """
    version: str | None = None
    try:
        answer = yield from call(dict[str, Any], "GET", "/api/v1/app/version")
        version = str(answer["version"]) if answer.get("version") else None
    except (InvokeAIError, KeyError, TypeError) as exc:
        log.debug("the server did not say its version: %s", exc)
    if version in SNAPSHOT_VERSIONS:
        return ServerSchema.from_openapi(bundled_document(version), version=version, source=f"release {version}")
    return (yield from _fetched_schema_flow(version))


def live_schema_flow() -> Flow[ServerSchema]:
    """The server's own `/openapi.json` (its node packs included); the nearest snapshot if unusable."""
    schema: ServerSchema = yield server_schema()
    if schema.source == "server":
        return schema
    return (yield from _fetched_schema_flow(schema.version))


def _fetched_schema_flow(version: str | None) -> Flow[ServerSchema]:
    try:
        document = yield from call(dict[str, Any], "GET", "/openapi.json", timeout=60.0)
        if not routes_of(document):
            raise ValueError("it lists no routes")
        return ServerSchema.from_openapi(document, version=version)
    except (InvokeAIError, ValueError) as exc:
        stand_in = snapshot_for(version)
        log.warning("the server's /openapi.json is unusable (%s); using the shipped %s schema", exc, stand_in)
        return ServerSchema.from_openapi(bundled_document(version), version=version, source=f"snapshot {stand_in}")


def server_schema(refresh: bool = False) -> Once[ServerSchema]:
    """The step answering this client's `ServerSchema` (worked out once per client)."""
    return Once("server-schema", server_schema_flow, refresh)


def live_schema(refresh: bool = False) -> Once[ServerSchema]:
    """The step answering the server's live schema (fetched once per client, when needed)."""
    return Once("live-schema", live_schema_flow, refresh)
