"""`client.workflow_repo`: handles for exported workflows, and the server's workflow library."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._capabilities import live_schema, server_schema
from .._compat.workflow import WorkflowRepositoryCompat
from .._exceptions import InvokeAIError
from .._flow import AsyncRunner, Call, Flow, Once, Runner, call
from .._resource import Resource, operation
from .._transport import segment
from .definition import WorkflowDefinition
from .handle import WorkflowHandle
from .schema import InvocationCatalog

if TYPE_CHECKING:
    from ..queue import QueueRepository

__all__ = ["AsyncWorkflowRepository", "WorkflowRepository", "catalog_flow"]

log = logging.getLogger("invokeai_py_client.workflow")

_BASE = "/api/v1/workflows"


def catalog_flow(live: bool = False, refresh: bool = False) -> Flow[InvocationCatalog]:
    """The server's catalog: from the shipped snapshot of its release, else its `/openapi.json`.

    The server's schema is the truth (a newer server has new nodes, inputs and limits);
    for a release the package has a snapshot of, that snapshot is the same schema.
    `live` fetches the server's own (for node types of node packs installed there).
    """
    schema = yield (live_schema(refresh) if live else server_schema())
    try:
        return InvocationCatalog.from_openapi(schema.document, version=schema.version)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("using a shipped schema: the server's /openapi.json is unreadable (%s)", exc)
        return InvocationCatalog.bundled(schema.version)


class WorkflowRepository(WorkflowRepositoryCompat, Resource[Runner]):
    """Create workflow handles; list, get, save and delete workflows in the server's library."""

    def __init__(self, runner: Runner | Any, queue: QueueRepository[Runner] | None = None) -> None:
        if queue is None:  # 1.1.1's WorkflowRepository(client)
            client: Any = runner
            runner, queue = client._runner, client.queue_repo
        self._runner = runner
        self._queue: QueueRepository[Runner] = queue

    @operation
    def create_workflow(self, definition: WorkflowDefinition) -> Flow[WorkflowHandle[Runner]]:
        """A handle to set inputs of `definition`, submit it and map its outputs.

        Input types come from the server's schema (fetched once per client).
        """
        catalog: InvocationCatalog = yield Once("catalog", catalog_flow)
        known = set(catalog.node_types())
        if any(node.get("type") == "invocation" and node.get("data", {}).get("type") not in known
               for node in definition._node_map().values()):
            catalog = yield Once("live-catalog", lambda: catalog_flow(live=True))  # a node pack's types
        return WorkflowHandle(self._runner, self._queue.queue_id, definition, catalog)

    @operation
    def list(self, query: str | None = None, *, category: str | None = None) -> Flow[list[dict[str, Any]]]:
        """Library entries (id, name, category, ...), all pages."""
        out: list[dict[str, Any]] = []
        page = 0
        while True:
            params: dict[str, Any] = {"page": page, "per_page": 100, "query": query}
            if category:
                params["categories"] = [category]
            answer = yield from call(dict[str, Any], "GET", f"{_BASE}/", params=params)
            out.extend(answer.get("items", []))
            if page + 1 >= int(answer.get("pages", 1)):
                return out
            page += 1

    @operation
    def get(self, workflow_id: str) -> Flow[WorkflowDefinition]:
        """A workflow of the library, as it was saved."""
        answer = yield from call(dict[str, Any], "GET", f"{_BASE}/i/{segment(workflow_id, 'workflow id')}")
        workflow = dict(answer["workflow"])
        if "is_published" in workflow and workflow["is_published"] is None:
            # 6.0-6.x servers add `is_published: null` to every stored workflow: library
            # bookkeeping, not part of the document that was saved.
            del workflow["is_published"]
        return WorkflowDefinition.from_dict(workflow, source=f"workflow library {workflow_id}")

    @operation
    def save(self, definition: WorkflowDefinition) -> Flow[str]:
        """Store a workflow in the library (updates it when it has an id); returns its id."""
        return _save_flow(definition)

    @operation
    def install(self, definition: WorkflowDefinition, *, by_name: bool = True, by_base: bool = True) -> Flow[str]:
        """Save a workflow (e.g. a bundled one) into the library with its models synced first.

        Its model references then name this server's models, so it opens in the editor
        cleanly; returns the new library id.
        """
        catalog = yield Once("catalog", catalog_flow)
        handle = WorkflowHandle(self._runner, self._queue.queue_id, definition, catalog)
        yield from handle._sync_models_flow(by_name, by_base)
        return (yield from _save_flow(handle.synced_definition()))

    @operation
    def delete(self, workflow_id: str) -> Flow[None]:
        yield Call("DELETE", f"{_BASE}/i/{segment(workflow_id, 'workflow id')}", expect="none")

    @operation
    def from_image(self, image_name: str) -> Flow[WorkflowDefinition]:
        """The workflow InvokeAI embedded in one of its output images."""
        path = f"/api/v1/images/i/{segment(image_name, 'image name')}/workflow"
        answer = yield from call(dict[str, Any], "GET", path)
        workflow = answer.get("workflow")
        if not workflow:
            raise InvokeAIError(f"image {image_name!r} carries no workflow")
        data = workflow if isinstance(workflow, Mapping) else json.loads(workflow)
        return WorkflowDefinition.from_dict(data, source=f"image {image_name}")


def _save_flow(definition: WorkflowDefinition) -> Flow[str]:
    body = definition.server_workflow()
    workflow_id = definition.id
    if workflow_id:
        body["id"] = workflow_id
        path = f"{_BASE}/i/{segment(workflow_id, 'workflow id')}"
        answer = yield from call(dict[str, Any], "PATCH", path, json={"workflow": body}, retry=False)
    else:
        answer = yield from call(dict[str, Any], "POST", f"{_BASE}/", json={"workflow": body}, retry=False)
    return str(answer["workflow_id"])


AsyncWorkflowRepository = WorkflowRepository[AsyncRunner]
"""`AsyncInvokeAIClient.workflow_repo`: the same methods, as coroutines."""
