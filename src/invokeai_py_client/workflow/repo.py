"""`client.workflow_repo`: handles for exported workflows, and the server's workflow library."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._flow import Call, Flow
from .definition import WorkflowDefinition

if TYPE_CHECKING:
    from ..client import AsyncInvokeAIClient, InvokeAIClient
    from .handle import AsyncWorkflowHandle, WorkflowHandle

__all__ = ["AsyncWorkflowRepository", "WorkflowRepository"]

log = logging.getLogger("invokeai_py_client.workflow")

_BASE = "/api/v1/workflows"


def _list_flow(query: str | None, category: str | None, per_page: int) -> Flow[list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []
    page = 0
    while True:
        params: dict[str, Any] = {"page": page, "per_page": per_page, "query": query}
        if category:
            params["categories"] = [category]
        answer = yield Call("GET", f"{_BASE}/", params=params)
        out.extend(answer.get("items", []))
        if page + 1 >= int(answer.get("pages", 1)):
            return out
        page += 1


def _get_flow(workflow_id: str) -> Flow[WorkflowDefinition]:
    answer = yield Call("GET", f"{_BASE}/i/{workflow_id}")
    return WorkflowDefinition.from_dict(answer["workflow"], source=f"workflow library {workflow_id}")


def _save_flow(definition: WorkflowDefinition) -> Flow[str]:
    body = definition.server_workflow()
    workflow_id = definition.id
    if workflow_id:
        body["id"] = workflow_id
        answer = yield Call("PATCH", f"{_BASE}/i/{workflow_id}", json={"workflow": body}, retry=False)
    else:
        answer = yield Call("POST", f"{_BASE}/", json={"workflow": body}, retry=False)
    return str(answer["workflow_id"])


def _delete_flow(workflow_id: str) -> Flow[None]:
    yield Call("DELETE", f"{_BASE}/i/{workflow_id}", expect="none")
    return None


def _from_image_flow(image_name: str) -> Flow[WorkflowDefinition]:
    answer = yield Call("GET", f"/api/v1/images/i/{image_name}/workflow")
    workflow = (answer or {}).get("workflow")
    if not workflow:
        from .._exceptions import InvokeAIError

        raise InvokeAIError(f"image {image_name!r} carries no workflow")
    data = workflow if isinstance(workflow, Mapping) else __import__("json").loads(workflow)
    return WorkflowDefinition.from_dict(data, source=f"image {image_name}")


class WorkflowRepository:
    """Create workflow handles; list, get, save and delete workflows in the server's library."""

    def __init__(self, client: InvokeAIClient) -> None:
        self._client = client

    def create_workflow(self, definition: WorkflowDefinition) -> WorkflowHandle:
        """A handle to set inputs of `definition`, submit it and map its outputs."""
        from .handle import WorkflowHandle

        return WorkflowHandle(self._client, definition)

    def list(self, query: str | None = None, *, category: str | None = None) -> list[dict[str, Any]]:
        """Library entries (id, name, category, ...), all pages."""
        return self._client._run(_list_flow(query, category, 100))

    def get(self, workflow_id: str) -> WorkflowDefinition:
        return self._client._run(_get_flow(workflow_id))

    def save(self, definition: WorkflowDefinition) -> str:
        """Store a workflow in the library (updates it when it has an id); returns its id."""
        return self._client._run(_save_flow(definition))

    def delete(self, workflow_id: str) -> None:
        self._client._run(_delete_flow(workflow_id))

    def from_image(self, image_name: str) -> WorkflowDefinition:
        """The workflow InvokeAI embedded in one of its output images."""
        return self._client._run(_from_image_flow(image_name))


class AsyncWorkflowRepository:
    """The async twin of `WorkflowRepository`."""

    def __init__(self, client: AsyncInvokeAIClient) -> None:
        self._client = client

    def create_workflow(self, definition: WorkflowDefinition) -> AsyncWorkflowHandle:
        from .handle import AsyncWorkflowHandle

        return AsyncWorkflowHandle(self._client, definition)

    async def list(self, query: str | None = None, *, category: str | None = None) -> list[dict[str, Any]]:
        return await self._client._run(_list_flow(query, category, 100))

    async def get(self, workflow_id: str) -> WorkflowDefinition:
        return await self._client._run(_get_flow(workflow_id))

    async def save(self, definition: WorkflowDefinition) -> str:
        return await self._client._run(_save_flow(definition))

    async def delete(self, workflow_id: str) -> None:
        await self._client._run(_delete_flow(workflow_id))

    async def from_image(self, image_name: str) -> WorkflowDefinition:
        return await self._client._run(_from_image_flow(image_name))
