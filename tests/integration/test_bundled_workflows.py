"""The bundled stage workflows run end to end on the real local server with the tiny models.

The tiny models have random weights: their images are near-flat noise, so these
tests check sizes, determinism, which pixels change and where images go, not content.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from invokeai_py_client import InvokeAIClient, ValidationError
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflow.handle import WorkflowHandle
from invokeai_py_client.workflow.outputs import image_names_of
from invokeai_py_client.workflows import BUNDLED_WORKFLOWS, bundled_workflow_path
from invokeai_py_client.workflows.face import face_box, face_detected

TIMEOUT = 120


class Session:
    """A client plus a board for the outputs; deletes every image it made at the end."""

    def __init__(self, client: InvokeAIClient, server_url: str, board_id: str) -> None:
        self.client = client
        self.server_url = server_url
        self.board_id = board_id
        self.made: set[str] = set()

    def workflow(self, filename: str) -> WorkflowHandle:
        wf = self.client.workflow_repo.create_workflow(
            WorkflowDefinition.from_file(bundled_workflow_path(filename))
        )
        wf.sync_dnn_model(by_name=True, by_base=True)
        return wf

    def clear_invocation_cache(self) -> None:
        """Make the next identical graph really run (else the server answers from its cache)."""
        response = httpx.delete(f"{self.server_url}/api/v1/app/invocation_cache", timeout=30)
        assert response.status_code == 200, response.text

    def upload(self, image: Image.Image, **kwargs: Any) -> str:
        name = self.client.image_repo.upload_image(image, is_intermediate=True, **kwargs).image_name
        self.made.add(name)
        return name

    def run(
        self, wf: WorkflowHandle, values: dict[int, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Submit with Form values by index (output board always ours); the item and its outputs."""
        board_index = next(i.input_index for i in wf.list_inputs() if i.label == "Output board")
        for index, value in {board_index: self.board_id, **values}.items():
            wf.get_input_value(index).value = value
        item = wf.submit_sync().wait(timeout=TIMEOUT)
        raw = item.model_dump()
        session = raw.get("session") or {}
        for result in (session.get("results") or {}).values():
            self.made.update(image_names_of(result))
        assert raw["status"] == "completed", raw.get("error_message")
        return raw, wf.map_outputs_to_images(item)

    def final_image(self, outputs: list[dict[str, Any]]) -> tuple[str, np.ndarray]:
        """The one non-intermediate output image, saved to our board, as RGB pixels."""
        finals = [o for o in outputs if not o["is_intermediate"]]
        assert len(finals) == 1, outputs
        (name,) = finals[0]["image_names"]
        assert finals[0]["board_id"] == self.board_id
        return name, self.pixels(name)

    def pixels(self, name: str) -> np.ndarray:
        data = self.client.image_repo.download_image(name)
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)


@pytest.fixture(scope="module")
def session(server_url: str) -> Iterator[Session]:
    client = InvokeAIClient.from_url(server_url)
    board = client.board_repo.create_board(f"bundled-workflows-{uuid.uuid4().hex[:8]}")
    s = Session(client, server_url, board.board_id)
    try:
        yield s
    finally:
        client.board_repo.delete_board(board.board_id, delete_images=True)
        with contextlib.suppress(Exception):
            client.image_repo.delete_images(sorted(s.made))
        client.close()


def _txt2img(s: Session, seed: int) -> tuple[str, np.ndarray]:
    s.clear_invocation_cache()
    wf = s.workflow("sdxl_base.json")
    _, outputs = s.run(
        wf,
        {
            0: "a lighthouse at dusk",
            1: "blurry",
            2: seed,
            3: 3,
            4: 6.0,
            5: 64,
            6: 64,
            8: "tiny-sdxl",
        },
    )
    return s.final_image(outputs)


def _astronaut(size: int | None = None) -> Image.Image:
    image = Image.fromarray(skdata.astronaut())  # type: ignore[no-untyped-call]
    return image.resize((size, size), Image.Resampling.LANCZOS) if size else image


def test_base_is_64px_and_deterministic_per_seed(session: Session) -> None:
    first_name, first = _txt2img(session, seed=11)
    again_name, again = _txt2img(session, seed=11)
    _, other = _txt2img(session, seed=12)
    assert first.shape == (64, 64, 3)
    assert first_name != again_name  # really ran twice
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 0.1


def test_an_image_made_here_embeds_the_values_that_ran(session: Session) -> None:
    """Reopened in the editor ("Load Workflow"), the image shows what made it, as a GUI-made one does."""
    wf = session.workflow("sdxl_base.json")
    typed = {0: "a lighthouse at dusk", 1: "blurry", 2: 42, 3: 2, 4: 5.5, 5: 64, 6: 72, 9: "dpmpp_2m"}
    _, outputs = session.run(wf, {**typed, 8: "tiny-sdxl"})
    name, _ = session.final_image(outputs)

    embedded = session.client.image_repo.get_workflow(name).workflow
    assert embedded is not None
    inputs = {n["id"]: n["data"]["inputs"] for n in embedded["nodes"] if n["type"] == "invocation"}

    def embedded_value(index: int) -> Any:
        ref = wf.get_input(index)
        return inputs[ref.node_id][ref.field_name]["value"]

    for index, value in typed.items():
        assert embedded_value(index) == value, wf.get_input(index).label
    installed = {m.name: m for m in session.client.dnn_model_repo.list_models()}
    assert embedded_value(8)["key"] == installed["tiny-sdxl"].key  # the model that ran, not the file's stale key
    assert embedded_value(7) == {"board_id": session.board_id}


@pytest.mark.parametrize("filename", sorted(BUNDLED_WORKFLOWS))
def test_installed_bundled_workflows_name_this_servers_models(session: Session, filename: str) -> None:
    repo = session.client.workflow_repo
    workflow_id = repo.install(WorkflowDefinition.from_file(bundled_workflow_path(filename)))
    try:
        stored = repo.get(workflow_id)
        installed_keys = {m.key for m in session.client.dnn_model_repo.list_models()}
        references = [
            entry["value"]
            for node in stored.nodes.values() if node.get("type") == "invocation"
            for entry in node["data"]["inputs"].values()
            if isinstance(entry.get("value"), dict) and "key" in entry["value"] and "base" in entry["value"]
        ]
        assert references, f"{filename} holds no model reference"
        assert {r["key"] for r in references} <= installed_keys
    finally:
        repo.delete(workflow_id)


def test_the_refiners_outputs_list_its_result_first_and_its_input_last(session: Session) -> None:
    base_name, _ = _txt2img(session, seed=6)
    wf = session.workflow("sdxl_refiner.json")
    item, outputs = session.run(wf, {0: base_name, 1: "x", 3: 2, 4: 0.5})
    assert [(o["node_id"], o["role"]) for o in outputs] == [("output_image", "output")]  # the seed's images[0]
    everything = wf.map_outputs_to_images(item, roles=("output", "intermediate", "input"))
    assert everything[-1]["role"] == "input" and everything[-1]["image_names"] == [base_name]


def test_refiner_keeps_size_and_strength_controls_the_change(session: Session) -> None:
    base_name, _ = _txt2img(session, seed=5)
    wf = session.workflow("sdxl_refiner.json")

    def refine(image_name: str, strength: float) -> np.ndarray:
        session.clear_invocation_cache()
        _, outputs = session.run(
            wf, {0: image_name, 1: "a lighthouse", 2: "", 3: 8, 4: strength, 5: 7.5}
        )
        return session.final_image(outputs)[1]

    kept, kept_again, changed = (
        refine(base_name, 0.0),
        refine(base_name, 0.0),
        refine(base_name, 0.8),
    )
    assert kept.shape == changed.shape == (64, 64, 3)
    # Strength 0 is the plain encode/decode round trip (nothing denoised): the same every
    # time. 0.8 redraws most of it. (The tiny VAE has random weights, so the round trip
    # itself does not resemble the input; the difference to it is the measure.)
    assert np.array_equal(kept, kept_again)
    assert np.abs(changed - kept).mean() > 0.3

    # An input whose sides are not multiples of 8 comes back at its own size.
    odd = session.upload(_astronaut().resize((60, 44)))
    assert refine(odd, 0.5).shape == (44, 60, 3)


@pytest.mark.parametrize(
    ("model", "scale"), [("tiny-esrgan-x2", 2), ("tiny-esrgan-x4", 4), ("tiny-esrgan-x4", 2)]
)
def test_upscale_gives_the_exact_factor(session: Session, model: str, scale: int) -> None:
    source = session.upload(_astronaut(40).crop((0, 0, 40, 24)))
    wf = session.workflow("esrgan_upscale.json")
    _, outputs = session.run(wf, {0: source, 1: scale, 2: model})
    _, pixels = session.final_image(outputs)
    assert pixels.shape == (24 * scale, 40 * scale, 3)


def test_face_restore_changes_only_the_face(session: Session) -> None:
    photo = _astronaut()
    source = session.upload(photo)
    wf = session.workflow("face_restore.json")
    item, outputs = session.run(
        wf, {0: source, 1: 0.6, 2: "tiny-sdxl-refiner", 4: "a sharp portrait photo"}
    )
    assert face_detected(item)
    box = face_box(item)
    assert box is not None
    x, y, w, h = box
    assert 0 < w < photo.width and 0 < h < photo.height

    _, result = session.final_image(outputs)
    diff = np.abs(result - np.asarray(photo).astype(np.int16)).sum(axis=-1)
    inside = np.zeros(diff.shape, dtype=bool)
    inside[y : y + h, x : x + w] = True
    assert result.shape == (photo.height, photo.width, 3)
    assert int(diff[~inside].max()) == 0  # outside the face box: bit-identical
    assert diff[inside].mean() > 5  # the face itself was redrawn


def test_face_restore_without_a_face_returns_the_image_unchanged(session: Session) -> None:
    gray = Image.new("RGB", (96, 80), (128, 128, 128))
    source = session.upload(gray)
    wf = session.workflow("face_restore.json")
    item, outputs = session.run(wf, {0: source, 1: 0.8})
    assert not face_detected(item)
    assert face_box(item) is None
    _, result = session.final_image(outputs)
    assert np.array_equal(result, np.asarray(gray).astype(np.int16))


def test_face_restore_rejects_an_unknown_method(session: Session) -> None:
    wf = session.workflow("face_restore.json")
    wf.get_input_value(0).value = "whatever.png"
    wf.get_input_value(2).value = "CodeFormer"
    with pytest.raises(ValidationError, match=r"CodeFormer.*tiny-sdxl-refiner"):
        wf.submit_sync()


def test_masked_refine_changes_only_inside_the_mask(session: Session) -> None:
    photo = _astronaut(64)
    mask = np.full((64, 64), 255, dtype=np.uint8)
    mask[16:48, 8:40] = 0  # black = refine
    source = session.upload(photo)
    mask_name = session.upload(Image.fromarray(mask, "L"), image_category="mask")
    wf = session.workflow("masked_refine.json")
    _, outputs = session.run(wf, {0: source, 1: mask_name, 2: "a red helmet", 3: 6, 4: 0.7, 5: 7.5})
    _, result = session.final_image(outputs)
    diff = np.abs(result - np.asarray(photo).astype(np.int16)).mean(axis=-1)
    assert result.shape == (64, 64, 3)
    assert float(diff[mask == 255].max()) == 0.0
    assert diff[mask == 0].mean() > 5


def test_fused_base_and_refiner_is_one_item_with_one_gallery_image(session: Session) -> None:
    wf = session.workflow("sdxl_with_refiner.json")
    values = {0: "a lighthouse", 1: "", 2: 3, 3: 4, 4: 3, 5: 0.75, 6: 64, 7: 64, 8: 6.0}
    item, outputs = session.run(wf, values)
    name, pixels = session.final_image(outputs)
    assert pixels.shape == (64, 64, 3)
    assert outputs[-1]["node_id"] == "latents_to_image"
    # Every image the item made, other than the final one, is an intermediate.
    made = {n for r in item["session"]["results"].values() for n in image_names_of(r)}
    dtos = session.client.image_repo.get_images_by_names(sorted(made))
    assert {d.image_name for d in dtos if not d.is_intermediate} == {name}
    # Same seed, same pixels (no i2l in this graph).
    session.clear_invocation_cache()
    _, again = session.run(wf, values)
    again_name, again_pixels = session.final_image(again)
    assert again_name != name
    assert np.array_equal(again_pixels, pixels)


@pytest.mark.parametrize("filename", BUNDLED_WORKFLOWS)
def test_the_workflow_library_keeps_each_file_unchanged(server_url: str, filename: str) -> None:
    defn = WorkflowDefinition.from_file(bundled_workflow_path(filename))
    sent = defn.server_workflow()
    with httpx.Client(base_url=f"{server_url}/api/v1", timeout=30) as http:
        created = http.post("/workflows/", json={"workflow": sent})
        assert created.status_code == 200, created.text
        workflow_id = created.json()["workflow_id"]
        try:
            stored = http.get(f"/workflows/i/{workflow_id}")
            assert stored.status_code == 200, stored.text
            got = dict(stored.json()["workflow"])
            assert got.pop("id") == workflow_id
            # 6.0-6.x servers add `is_published: null` to what they store; the client drops it.
            assert got.pop("is_published", None) is None
            assert got == sent
            with InvokeAIClient(server_url, use_events=False) as client:
                loaded = client.workflow_repo.get(workflow_id).server_workflow()
            assert "is_published" not in loaded and loaded.pop("id", workflow_id) == workflow_id
            assert loaded == sent
        finally:
            assert http.delete(f"/workflows/i/{workflow_id}").status_code == 200
