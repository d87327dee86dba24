"""A corpus of bad input: each case raises a specific `InvokeAIError` whose message names
the culprit (file, input label, node.field, value), and nothing reaches the server.

Workflow files and values are checked without a server; names and server answers go
through a mock transport that records what was sent.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from invokeai_py_client import APIResponseError, InputNotFoundError, InvokeAIClient, ValidationError
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflows import bundled_workflow_path

BASE = json.loads(bundled_workflow_path("sdxl_base.json").read_text(encoding="utf-8"))
FIRST_FIELD = BASE["form"]["elements"]["root"]["data"]["children"][0]


def edited(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    change(doc)
    return doc


# --- workflow documents ---------------------------------------------------------------------

DOCUMENTS: dict[str, tuple[Any, str]] = {
    "top-level list": ([1, 2], "expected a JSON object"),
    "no nodes": (edited(lambda d: d.pop("nodes")), "'nodes' is missing"),
    "edges not a list": (edited(lambda d: d.__setitem__("edges", "x")), "'edges' is missing or not a list"),
    "schema from the future": (edited(lambda d: d["meta"].__setitem__("version", "9.0.0")), "'9.0.0'"),
    "duplicate node id": (edited(lambda d: d["nodes"].append(copy.deepcopy(d["nodes"][0]))), "appears more than once"),
    "edge to a missing node": (
        edited(lambda d: d["edges"].append({"id": "x", "type": "default", "source": "nope", "target": "noise",
                                            "sourceHandle": "value", "targetHandle": "seed"})),
        "source node 'nope' does not exist",
    ),
    "form child missing": (
        edited(lambda d: d["form"]["elements"]["root"]["data"]["children"].append("ghost")), "child 'ghost'",
    ),
    "form not a tree": (
        edited(lambda d: d["form"]["elements"]["root"]["data"]["children"].append("root")), "more than once",
    ),
    "form field of a missing node": (
        edited(lambda d: d["form"]["elements"][FIRST_FIELD]["data"]["fieldIdentifier"].__setitem__("nodeId", "ghost")),
        "refers to node 'ghost'",
    ),
    "form field of a missing input": (
        edited(lambda d: d["form"]["elements"][FIRST_FIELD]["data"]["fieldIdentifier"].__setitem__("fieldName", "zz")),
        "refers to input 'zz'",
    ),
    "root element missing": (edited(lambda d: d["form"].__setitem__("rootElementId", "ghost")), "'ghost' names no element"),
    "name not text": (edited(lambda d: d.__setitem__("name", 5)), "name must be text"),
    "invocation without a type": (edited(lambda d: d["nodes"][0]["data"].__setitem__("type", 5)), "without data.type"),
    "inputs not a mapping": (edited(lambda d: d["nodes"][0]["data"].__setitem__("inputs", [])), "data.inputs must map"),
    "exposed fields wrong": (edited(lambda d: d.__setitem__("exposedFields", [3])), "exposedFields must be a list"),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_a_broken_workflow_document_is_refused_naming_the_problem(name: str) -> None:
    document, named = DOCUMENTS[name]
    with pytest.raises(ValidationError) as info:
        WorkflowDefinition.from_dict(document)
    assert named in str(info.value) + " ".join(info.value.problems), str(info.value)


FILES: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"{nodes: [}", "is not JSON"),
    "binary": (bytes(range(256)), "not UTF-8"),
    "nested too deep": (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    "empty": (b"", "is not JSON"),
    "UTF-16": ('{"nodes": []}'.encode("utf-16"), "not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_broken_workflow_file_is_refused_naming_the_file(name: str, tmp_path: Path) -> None:
    content, named = FILES[name]
    path = tmp_path / f"{name.replace(' ', '-')}.json"
    path.write_bytes(content)
    with pytest.raises(ValidationError, match=named) as info:
        WorkflowDefinition.from_file(path)
    assert path.name in str(info.value)


# --- values ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def handle() -> Any:
    # The server answers nothing useful: the bundled schema types the inputs.
    client = InvokeAIClient("http://testserver", use_events=False,
                            transport=httpx.MockTransport(lambda r: httpx.Response(404, json={"detail": "no"})))
    return client.workflow_repo.create_workflow(WorkflowDefinition.from_file(bundled_workflow_path("sdxl_base.json")))


VALUES: list[tuple[str, Any, str]] = [
    ("Seed", -1, "-1"),
    ("Seed", 2**32, "4294967296"),
    ("Seed", 1.5, "1.5"),
    ("Seed", True, "True"),
    ("Seed", "forty-two", "forty-two"),
    ("Seed", None, "None"),
    ("Steps", 0, "0"),
    ("Steps", 151, "151"),
    ("CFG scale", math.nan, "nan"),
    ("CFG scale", math.inf, "inf"),
    ("CFG scale", "high", "high"),
    ("Width", 8, "8"),
    ("Width", 5000, "5000"),
    ("Width", 65, "65"),
    ("Height", -64, "-64"),
    ("Scheduler", "nope", "nope"),
    ("Scheduler", 5, "5"),
    ("Positive prompt", 5, "5"),
    ("Positive prompt", ["a"], "a"),
    ("Positive prompt", "a \ud800", "surrogate"),
    ("Positive prompt", "x" * 100_001, "100,001"),
    ("Negative prompt", {"text": "a"}, "text"),
    ("Model", 5, "5"),
    ("Model", {"key": 5}, "key"),
    ("Output board", 5, "5"),
    ("Output board", {"board_id": ""}, "board_id"),
    ("Output board", {"id": "x"}, "board_id"),
]


@pytest.mark.parametrize(("label", "value", "named"), VALUES, ids=[f"{label}={str(value)[:20]!r}" for label, value, _ in VALUES])
def test_a_bad_value_is_refused_naming_the_input_and_the_value(handle: Any, label: str, value: Any, named: str) -> None:
    field = handle.get_input_value(label)
    before = field.value
    with pytest.raises(ValidationError) as info:
        field.value = value
    assert label in str(info.value) and named in str(info.value), str(info.value)
    assert field.value == before  # nothing half-applied


@pytest.mark.parametrize("values", [[1, -1], [1, 2.5], ["a", 3]])
def test_a_sweep_with_one_bad_value_is_refused_whole(handle: Any, values: list[Any]) -> None:
    field = handle.get_input_value("Seed")
    before = field.values
    with pytest.raises(ValidationError) as info:
        field.values = values
    assert "Seed" in str(info.value)
    assert field.values == before  # nothing half-applied


@pytest.mark.parametrize(("key", "named"), [("No such label", "No such label"), (99, "99"), (-1, "-1")])
def test_an_unknown_input_is_refused_listing_what_there_is(handle: Any, key: Any, named: str) -> None:
    with pytest.raises(InputNotFoundError) as info:
        handle.get_input_value(key)
    assert named in str(info.value) and "Seed" in str(info.value)


# --- names that go into URLs, and answers that are not what the API promises ---------------


class Recording:
    def __init__(self, answer: httpx.Response) -> None:
        self.answer = answer
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return self.answer


NAMES: list[tuple[str, Callable[[InvokeAIClient], Any], str]] = [
    ("empty image name", lambda c: c.image_repo.get_image(""), "image name ''"),
    ("dot image name", lambda c: c.image_repo.download_image("."), "image name '.'"),
    ("dot-dot image name", lambda c: c.image_repo.delete_image(".."), "image name '..'"),
    ("huge board id", lambda c: c.board_repo.get_board("b" * 5000), "bbbb"),
    ("dot-dot model key", lambda c: c.dnn_model_repo.get_model(".."), "'..'"),
    ("empty workflow id", lambda c: c.workflow_repo.get(""), "workflow id ''"),
]


@pytest.mark.parametrize("name", [n for n, _, _ in NAMES])
def test_a_hostile_name_is_refused_before_anything_is_sent(name: str) -> None:
    _, act, named = next(case for case in NAMES if case[0] == name)
    recording = Recording(httpx.Response(200, json={}))
    client = InvokeAIClient("http://testserver", use_events=False, transport=httpx.MockTransport(recording))
    with pytest.raises(ValidationError, match=named):
        act(client)
    assert recording.sent == []


ANSWERS: list[tuple[str, httpx.Response]] = [
    ("HTML for JSON", httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"})),
    ("garbage bytes", httpx.Response(200, content=b"\x00\xff\x00", headers={"content-type": "application/json"})),
    ("JSON of the wrong shape", httpx.Response(200, json=["not", "a", "board"])),
    ("a board without its id", httpx.Response(200, json={"board_name": "x"})),
    ("truncated JSON", httpx.Response(200, content=b'{"board_id": "x", ', headers={"content-type": "application/json"})),
]


@pytest.mark.parametrize("name", [n for n, _ in ANSWERS])
def test_an_answer_that_breaks_the_api_is_an_api_response_error_naming_the_route(name: str) -> None:
    answer = dict(ANSWERS)[name]
    client = InvokeAIClient("http://testserver", use_events=False, transport=httpx.MockTransport(lambda r: answer))
    with pytest.raises(APIResponseError) as info:
        client.board_repo.get_board("some-board")
    assert "/api/v1/boards/some-board" in str(info.value)
