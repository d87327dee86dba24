"""Holes a hostile test found, each closed: secrets stay out of sight, bad input is a named
`InvokeAIError`, and the client does not take a wrong answer for a right one.

Every client-side case runs through both the sync and the async client (mock transport).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from invokeai_py_client import (
    APIConnectionError,
    APIResponseError,
    AuthenticationError,
    InvokeAIClient,
    UnprocessableEntityError,
    ValidationError,
)
from invokeai_py_client.jobs import Job, enqueue_flow
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflows import bundled_workflow_path
from tests.unit.test_transport_faults import Harness, harness, json_response

__all__ = ["harness"]  # the fixture, shared with the transport fault tests

PASSWORD = "Sup3r-secret-pw"


# --- secrets ---------------------------------------------------------------------------


def test_a_password_in_the_url_is_sent_as_basic_auth_and_shown_nowhere(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if len(seen) == 1:
            return json_response(503, {"detail": "busy"})
        return json_response(500, {"detail": "broken"})

    client = harness.client(handler, url=f"http://alice:{PASSWORD}@testserver", max_retries=1)
    caplog.set_level(logging.DEBUG, logger="invokeai_py_client")
    with pytest.raises(Exception) as info:
        harness.call(client, "server_version")
    assert seen and all(h is not None and h.startswith("Basic ") for h in seen)
    shown = [repr(client), repr(client.options), str(info.value), repr(info.value), caplog.text]
    assert all(PASSWORD not in text for text in shown), shown
    assert "***@testserver" in repr(client)


def test_a_token_given_as_a_header_is_not_in_the_options_repr(harness: Harness) -> None:
    client = harness.client(lambda r: json_response(200, {}), headers={"Authorization": "Bearer abc.def.ghi"})
    assert "abc.def.ghi" not in repr(client.options) and "***" in repr(client.options)


def test_a_failed_login_keeps_no_copy_of_the_password(harness: Harness) -> None:
    client = harness.client(lambda r: json_response(401, {"detail": "Incorrect email or password"}))
    with pytest.raises(AuthenticationError) as info:
        harness.call(client, "login", "a@b.c", PASSWORD)
    error = info.value
    assert PASSWORD.encode() not in error.request.content
    assert PASSWORD.encode() not in error.response.request.content
    assert error.__cause__ is None and PASSWORD not in repr(error) and PASSWORD not in str(error)


def test_cookies_go_with_the_token(harness: Harness) -> None:
    cookies: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("cookie"))
        return httpx.Response(200, json={"version": "6.14.2"}, headers={"set-cookie": "media=tok; Path=/"})

    client = harness.client(handler, token="tok")
    harness.call(client, "server_version")
    harness.call(client, "server_version")
    client.credentials.set(None)
    harness.call(client, "server_version")
    assert cookies == [None, "media=tok", None]


# --- bad input: a named InvokeAIError, nothing sent ------------------------------------------


@pytest.mark.parametrize(
    ("url", "kwargs", "named"),
    [
        ("http://[::1", {}, r"not an http\(s\) URL"),
        ("", {}, "URL is empty"),
        ("ftp://host", {}, r"not an http\(s\) URL"),
        ("http://host", {"timeout": -5}, "timeout must be"),
        ("http://host", {"timeout": float("nan")}, "timeout must be"),
        ("http://host", {"max_retries": -1}, "max_retries"),
        ("http://host", {"email": "a@b.c"}, "email and password"),
    ],
)
def test_bad_client_arguments_are_refused(url: str, kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        InvokeAIClient(url, use_events=False, **kwargs)


def test_a_binary_file_is_not_a_workflow(tmp_path: Path) -> None:
    path = tmp_path / "photo.json"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(ValidationError, match=r"photo\.json.*not UTF-8"):
        WorkflowDefinition.from_file(path)


def test_json_nested_too_deep_is_not_a_workflow(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValidationError, match=r"deep\.json.*nests too deeply"):
        WorkflowDefinition.from_file(path)


def test_a_missing_workflow_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"nothing\.json.*cannot be read"):
        WorkflowDefinition.from_file(tmp_path / "nothing.json")


@pytest.mark.parametrize(
    ("value", "named"),
    [("a \ud800 b", "lone surrogate"), ("x" * 100_001, "100,001 characters")],
)
def test_prompts_that_cannot_be_sent_are_refused_naming_the_input(harness: Harness, value: str, named: str) -> None:
    client = harness.client(lambda r: json_response(404, {"detail": "no"}))  # bundled schema stands in
    wf = harness.call(client.workflow_repo, "create_workflow",
                      WorkflowDefinition.from_file(bundled_workflow_path("sdxl_base.json")))
    with pytest.raises(ValidationError, match=named) as info:
        wf.get_input_value("Positive prompt").value = value
    assert "Positive prompt" in str(info.value)


# --- answers that are not what was asked for --------------------------------------------------


def test_an_html_page_is_not_an_image(harness: Harness, tmp_path: Path) -> None:
    page = httpx.Response(200, text="<html>proxy login</html>", headers={"content-type": "text/html"})
    client = harness.client(lambda r: page)
    with pytest.raises(APIResponseError, match="text/html"):
        harness.call(client.image_repo, "download_image", "x.png")
    dest = tmp_path / "x.png"
    with pytest.raises(APIResponseError, match="text/html"):
        harness.call(client.image_repo, "download_to", "x.png", dest)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a .part


def test_a_directory_is_not_a_download_destination(harness: Harness, tmp_path: Path) -> None:
    sent: list[httpx.Request] = []
    client = harness.client(lambda r: sent.append(r) or json_response(200, {}))  # type: ignore[func-returns-value]
    with pytest.raises(ValidationError, match="is a directory"):
        harness.call(client.image_repo, "download_to", "x.png", tmp_path)
    assert sent == [] and list(tmp_path.iterdir()) == []


def test_a_refused_upload_names_the_file(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "scan.tiff"
    path.write_bytes(b"II*\x00")
    client = harness.client(lambda r: json_response(422, {"detail": "Not an image"}))
    with pytest.raises(UnprocessableEntityError, match=r"uploading 'scan\.tiff'"):
        harness.call(client.image_repo, "upload_image", path)


def test_enqueue_to_a_port_nobody_listens_on_is_a_connection_error_not_ambiguous(harness: Harness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = harness.client(handler, max_retries=0)
    with pytest.raises(APIConnectionError) as info:
        harness.run_flow(client, enqueue_flow("default", {"batch": {"graph": {"nodes": {}, "edges": []}}}))
    assert type(info.value) is APIConnectionError


def test_an_item_that_ended_at_the_deadline_is_not_a_timeout(harness: Harness) -> None:
    item = {"item_id": 5, "status": "completed", "batch_id": "b", "queue_id": "default", "session_id": "s",
            "priority": 0, "created_at": "2026-01-01T00:00:00", "updated_at": "2026-01-01T00:00:01"}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/item_summaries_by_ids"):
            return json_response(200, [{k: item[k] for k in ("item_id", "status", "batch_id")}])
        if request.url.path.endswith("/items_by_ids"):
            return json_response(200, [item])
        return json_response(404, {"detail": "no"})

    client = harness.client(handler)
    job = Job(client._runner, "default", 5, "b")  # its news has not arrived yet
    finished = harness.run_flow(client, job._wait(0, {}))
    assert finished.status == "completed" and job.done() and job.result() is finished


# --- TLS settings reach the event socket too ---------------------------------------------------


def _ca_bundle() -> str:
    import ssl

    path = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    if not Path(path).is_file():
        pytest.skip(f"no CA bundle on this machine at {path}")
    return path


@pytest.mark.parametrize("hub_kind", ["sync", "async"])
def test_the_event_socket_gets_the_clients_tls_settings(hub_kind: str) -> None:
    from invokeai_py_client._socket import AsyncEventHub, SyncEventHub
    from invokeai_py_client._transport import ClientOptions, Credentials

    hub_type = SyncEventHub if hub_kind == "sync" else AsyncEventHub

    def make(verify: bool | str) -> Any:
        return hub_type(ClientOptions("https://host", verify=verify), Credentials())._new_socket()

    bundle = _ca_bundle()
    # websocket-client's options: no check, the client's CA bundle, or (by default) the system's CAs
    assert make(False).sslopt == {"cert_reqs": ssl.CERT_NONE}
    assert make(bundle).sslopt == {"ca_certs": bundle}
    assert make(True).sslopt == {}


def test_job_errors_are_also_the_builtin_kinds_scripts_catch() -> None:
    from invokeai_py_client import JobCanceledError, JobFailedError, JobTimeoutError

    for error_type, builtin in ((JobFailedError, RuntimeError), (JobCanceledError, RuntimeError),
                                (JobTimeoutError, TimeoutError)):
        error = error_type("queue item 7 did not complete", None)
        assert isinstance(error, builtin) and str(error) == "queue item 7 did not complete" and error.item is None
