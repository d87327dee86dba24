"""Round trips with InvokeAI's own workflow editor, in a real browser.

- every bundled workflow, its models synced to this server, loads from a file with a
  clean "Workflow Loaded" and a Form whose labels are `list_inputs()` in order;
- an image made from Python reopens ("Load Workflow" in the gallery) with the values
  that ran, and embeds the same workflow as an image the GUI makes with those values;
- a workflow invoked from the GUI's Form is followed from Python to its image.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflow.handle import WorkflowHandle
from invokeai_py_client.workflows import BUNDLED_WORKFLOWS, bundled_workflow_path

FORM_JS = """() => [...document.querySelectorAll('.form-builder-node-field')].map(el => {
  const label = (el.querySelector('label')?.innerText ?? '').trim();
  const field = el.querySelector('textarea, input[role=spinbutton]');
  return [el.id, label, field ? field.value : el.innerText.replace(label, '').trim()];
})"""

# What the Form shows for the values of `RUN` (selects show their labels).
RUN = {0: "a lighthouse at dusk", 1: "blurry", 2: 42, 3: 2, 4: 5.5, 5: 64, 6: 72, 9: "dpmpp_2m"}
SHOWN = ["a lighthouse at dusk", "blurry", "42", "2", "5.5", "64", "72", None, "tiny-sdxl", "DPM++ 2M"]


@pytest.fixture(scope="module")
def client(server_url: str) -> Iterator[InvokeAIClient]:
    with InvokeAIClient.from_url(server_url) as client:
        yield client


@pytest.fixture
def board(client: InvokeAIClient) -> Iterator[tuple[str, str]]:
    name = f"editor-{uuid.uuid4().hex[:8]}"
    created = client.board_repo.create_board(name)
    yield created.board_id, name
    client.board_repo.delete_board(created.board_id, delete_images=True)


def synced(client: InvokeAIClient, filename: str) -> WorkflowHandle:
    wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(bundled_workflow_path(filename)))
    wf.sync_dnn_model(by_name=True, by_base=True)
    return wf


def dismissed_toasts(page: Page) -> None:
    """Close the toasts on screen (the editor reuses a toast's id, so a stale one would hide a new one)."""
    for close in page.locator("[id^=toast] button").all():
        close.dispatch_event("click")
    page.locator("[id^=toast]").first.wait_for(state="detached")


def shown_toasts(page: Page) -> list[str]:
    """The texts of the toasts on screen (waits for at least one)."""
    page.locator("[id^=toast]").first.wait_for()
    page.wait_for_timeout(300)  # a warning toast follows the first one closely
    return [t.strip() for t in page.eval_on_selector_all("[id^=toast]", "els => els.map(e => e.innerText)")]


def confirm_load(page: Page) -> None:
    """Answer "Load workflow? Your current workflow has unsaved changes" when it is asked."""
    dialog = page.get_by_role("alertdialog")
    try:
        dialog.wait_for(timeout=2_000)
    except Exception:  # noqa: BLE001 - not asked: nothing to answer
        return
    dialog.get_by_role("button", name="Load").dispatch_event("click")  # an overlay takes pointer clicks


def load_from_file(page: Page, path: Path) -> None:
    page.locator("[aria-label=Workflows]").first.click()
    page.get_by_text("Launchpad", exact=True).first.click()
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Load workflow from file").click()
    chooser.value.set_files(str(path))
    confirm_load(page)


def loaded_form(page: Page) -> list[tuple[str, str, str]]:
    """The Form after a load: asserts the load's toasts say exactly "Workflow Loaded" (no warnings)."""
    shown = shown_toasts(page)
    if not (shown and all(text == "Workflow Loaded" for text in shown)):
        said = [line for line in getattr(page, "console_lines", []) if "arning" in line and "parse type" not in line]
        raise AssertionError(f"{shown}; the app's warnings: {said[-5:]}")
    page.locator(".form-builder-node-field").first.wait_for()
    return [tuple(row) for row in page.evaluate(FORM_JS)]


def embedded_values(client: InvokeAIClient, image_name: str) -> dict[tuple[str, str], Any]:
    workflow = client.image_repo.get_workflow(image_name).workflow
    assert workflow is not None, f"{image_name} embeds no workflow"
    return {
        (node["id"], name): entry.get("value")
        for node in workflow["nodes"] if node["type"] == "invocation"
        for name, entry in node["data"]["inputs"].items()
    }


@pytest.mark.parametrize("filename", sorted(BUNDLED_WORKFLOWS))
def test_bundled_workflow_loads_cleanly_with_its_form_in_order(
    page: Page, client: InvokeAIClient, filename: str, tmp_path: Path
) -> None:
    wf = synced(client, filename)
    path = tmp_path / filename
    path.write_text(json.dumps(wf.synced_definition().raw()), encoding="utf-8")

    dismissed_toasts(page)
    load_from_file(page, path)
    form = loaded_form(page)

    assert [label for _, label, _ in form] == [i.label for i in wf.list_inputs()]


def test_an_image_made_from_python_reopens_with_the_values_that_ran(
    page: Page, client: InvokeAIClient, board: tuple[str, str]
) -> None:
    board_id, board_name = board
    wf = synced(client, "sdxl_base.json")
    for index, value in {**RUN, 7: board_id}.items():
        wf.get_input_value(index).value = value
    item = wf.submit_sync().wait(timeout=120)
    (image_name,) = [n for o in wf.map_outputs_to_images(item) if not o["is_intermediate"] for n in o["image_names"]]

    page.reload()  # the board was made after the page loaded
    page.locator("[aria-label=Workflows]").first.click()
    page.get_by_text(board_name, exact=True).first.click()
    dismissed_toasts(page)
    page.locator(f'[data-item-id="{image_name}"]').click(button="right")
    page.get_by_role("menuitem", name="Load Workflow").click()
    confirm_load(page)
    form = loaded_form(page)

    assert [value for _, _, value in form] == [board_name if s is None else s for s in SHOWN]


def test_a_gui_run_is_followed_from_python_and_embeds_what_a_library_run_embeds(
    page: Page, client: InvokeAIClient, board: tuple[str, str], tmp_path: Path
) -> None:
    board_id, _ = board
    wf = synced(client, "sdxl_base.json")
    for index, value in {**RUN, 7: board_id}.items():
        wf.get_input_value(index).value = value
    # The file the GUI loads already holds the values (so nothing is typed into the Form).
    values = {(i.node_id, i.field_name): i.field.value for i in wf.list_inputs() if i.field.is_set}
    values[(wf.get_input(7).node_id, "board")] = {"board_id": board_id}
    path = tmp_path / "sdxl_base_small.json"
    path.write_text(json.dumps(wf.synced_definition().server_workflow(values)), encoding="utf-8")
    before = set(client.queue_repo.list_item_ids())

    dismissed_toasts(page)
    load_from_file(page, path)
    loaded_form(page)
    page.get_by_role("button", name="Invoke").first.click()

    new_ids: list[int] = []
    for _ in range(300):
        new_ids = sorted(set(client.queue_repo.list_item_ids()) - before)
        if new_ids:  # the GUI's (origin "workflows"): another client may share the server
            new_ids = [i.item_id for i in client.queue_repo.get_items(new_ids) if i.origin == "workflows"]
        if new_ids:
            break
        page.wait_for_timeout(100)
    assert len(new_ids) == 1, f"the GUI enqueued {new_ids}"
    gui_item = client.queue_repo.attach_job(new_ids[0]).wait(timeout=120)
    assert gui_item.origin == "workflows"
    (gui_image,) = [n for o in wf.map_outputs_to_images(gui_item) if not o["is_intermediate"] for n in o["image_names"]]
    assert client.image_repo.get_image(gui_image).board_id == board_id

    library_item = wf.submit_sync().wait(timeout=120)
    (library_image,) = [
        n for o in wf.map_outputs_to_images(library_item) if not o["is_intermediate"] for n in o["image_names"]
    ]
    assert embedded_values(client, library_image) == embedded_values(client, gui_image)  # the values, readably
    assert client.image_repo.get_workflow(library_image).workflow == client.image_repo.get_workflow(gui_image).workflow
