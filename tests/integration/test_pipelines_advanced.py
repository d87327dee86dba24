"""The seed's other pipeline classes on the real server (tiny models, 64x64)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from invokeai_py_client import InvokeAIClient, NotFoundError, ValidationError
from invokeai_py_client.boards import BoardNotFoundError
from invokeai_py_client.pipelines import (
    DetailEnhancer,
    EfficientRefiner,
    FaceRefiner,
    ParallelRefiner,
    ProgressiveRefiner,
    StageBoards,
    StageJob,
)
from tests.graphs import unique

BOARDS = StageBoards(
    base=unique("ipc-adv-base"), refined=unique("ipc-adv-refined"), upscaled=unique("ipc-adv-upscaled"),
    face_enhanced=unique("ipc-adv-face"), detail=unique("ipc-adv-detail"),
)


@pytest.fixture(scope="module")
def client(server_url: str) -> Iterator[InvokeAIClient]:
    with InvokeAIClient.from_url(server_url) as c:
        yield c
        for name in (BOARDS.base, BOARDS.refined, BOARDS.upscaled, BOARDS.face_enhanced, BOARDS.detail):
            with contextlib.suppress(BoardNotFoundError):  # that stage never ran
                c.board_repo.delete_board(c.board_repo.resolve_board_id(name), delete_images=True)


def pixels(client: InvokeAIClient, name: str) -> np.ndarray:
    with Image.open(io.BytesIO(client.image_repo.download_image(name))) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int16)


def base_image(refiner: ProgressiveRefiner | ParallelRefiner | EfficientRefiner, seed: int) -> str:
    return refiner.generate_base("a warrior", seed=seed, steps=2, width=64, height=64)[0]


def test_progressive_refine_runs_each_pass_on_the_previous_image(client: InvokeAIClient) -> None:
    refiner = ProgressiveRefiner(client, boards=BOARDS)
    base = base_image(refiner, 5)
    names = refiner.progressive_refine(base, "a warrior, sharp", passes=3, refiner_steps=2)
    assert len(names) == 3 and len(set(names)) == 3
    items = [client.image_repo.get_image(n) for n in names]
    assert all((i.width, i.height) == (64, 64) for i in items)


def test_adaptive_refinement_stops_at_the_threshold(client: InvokeAIClient) -> None:
    scores = iter([0.2, 0.5, 0.9])
    refiner = ProgressiveRefiner(client, boards=BOARDS, scorer=lambda png: next(scores))
    base = base_image(refiner, 6)
    final = refiner.adaptive_refinement(base, "x", quality_threshold=0.85, refiner_steps=2)
    assert final != base  # two passes ran, the third score met the threshold
    with pytest.raises(StopIteration):
        next(scores)
    # The real default scorer returns a number in [0, 1) for a server image.
    assert 0.0 <= ProgressiveRefiner(client, boards=BOARDS).assess_quality(final) < 1.0


def test_face_pass_changes_only_the_face_and_skips_faceless_images(client: InvokeAIClient) -> None:
    import skimage.data  # the dev extra: a real photo with a face
    refiner = FaceRefiner(client, boards=BOARDS)
    photo = Image.fromarray(skimage.data.astronaut())
    original = refiner.ensure_image_name(photo)
    name, item, found = refiner.enhance_face(original, 0.6)
    assert found and name != original
    from invokeai_py_client.workflows import face_box

    box = face_box(item)
    assert box is not None
    x, y, w, h = box
    diff = np.abs(pixels(client, name) - pixels(client, original)).sum(axis=2)
    outside = diff.copy()
    outside[y:y + h, x:x + w] = 0
    assert outside.max() == 0 and diff[y:y + h, x:x + w].max() > 0
    gray = refiner.ensure_image_name(Image.new("RGB", (96, 96), (128, 128, 128)))
    assert refiner.detect_and_enhance_faces(gray, 0.6) == gray
    with pytest.raises(ValidationError, match="CodeFormer"):
        refiner.enhance_face(original, 0.5, model="CodeFormer")


def test_detail_enhancer_masks_local_files_and_chains(client: InvokeAIClient, tmp_path: Path) -> None:
    enhancer = DetailEnhancer(client, boards=BOARDS)
    image = Image.new("RGB", (64, 64), (40, 90, 160))
    image_path = tmp_path / "portrait.png"
    image.save(image_path)
    mask = Image.new("L", (64, 64), 255)
    mask.paste(0, (16, 16, 48, 48))  # black = change here
    mask_path = tmp_path / "mask.png"
    mask.save(mask_path)
    original = enhancer.ensure_image_name(image_path)
    result = enhancer.enhance_region(str(image_path), str(mask_path), "detailed", detail_level="ultra")
    diff = np.abs(pixels(client, result) - pixels(client, original)).sum(axis=2)
    assert diff[:16, :].max() == 0 and diff[48:, :].max() == 0 and diff[16:48, 16:48].max() > 0
    with pytest.raises(ValidationError) as info:
        enhancer.multi_detail_enhancement(original, [{"type": "texture", "texture_type": "plastic"}, {"type": "nope"}])
    assert len(info.value.problems) == 2
    final = enhancer.multi_detail_enhancement(
        original, [{"type": "face"}, {"type": "masked", "mask": str(mask_path), "prompt": "x", "detail_level": "low"}]
    )
    assert final != original


def test_batch_refine_queues_everything_before_waiting(client: InvokeAIClient) -> None:
    refiner = ParallelRefiner(client, boards=BOARDS)
    bases = [base_image(refiner, s) for s in (1, 2, 3)]
    jobs = [refiner.submit_refine(b, "x", refiner_steps=2) for b in bases]
    assert all(j.job.status() in ("pending", "in_progress") for j in jobs[1:])
    names = [j.wait().image for j in jobs]
    assert len(set(names)) == 3
    assert len(refiner.batch_refine(bases[:2], "y", refiner_steps=2)) == 2


def test_max_workers_bounds_what_is_on_the_queue_at_once(client: InvokeAIClient) -> None:
    refiner = ParallelRefiner(client, boards=BOARDS, max_workers=1)  # the seed's signature
    submitted: list[StageJob[Any]] = []
    stage = refiner.stages["refine"]
    submit = stage._submit_flow

    def recording(*args: Any, **kwargs: Any) -> Any:
        submitted.append((yield from submit(*args, **kwargs)))
        return submitted[-1]

    stage._submit_flow = recording  # type: ignore[method-assign]
    bases = [base_image(refiner, s) for s in (7, 8)]
    refined = refiner.batch_refine(bases, "z", refiner_steps=2)
    assert len(set(refined)) == 2 and len(submitted) == 2
    first, second = (client.queue_repo.get_item(s.job.item_id) for s in submitted)
    assert str(first.completed_at) <= str(second.created_at)  # one in flight at a time
    with pytest.raises(ValidationError):
        ParallelRefiner(client, max_workers=0)


def test_streaming_pipeline_yields_stages_and_deletes_superseded_images(client: InvokeAIClient) -> None:
    refiner = EfficientRefiner(client, boards=BOARDS)
    seen = list(refiner.streaming_pipeline(
        ["a", "b"], stages=("base", "refine"), steps=2, width=64, height=64, refiner_steps=3, refiner_strength=0.6,
    ))
    by = {(s["stage"], s["prompt"]): s for s in seen}
    assert sorted(by) == [("base", "a"), ("base", "b"), ("refined", "a"), ("refined", "b")]
    for prompt in "ab":
        assert seen.index(by[("base", prompt)]) < seen.index(by[("refined", prompt)])
    with pytest.raises(NotFoundError):
        client.image_repo.get_image(by[("base", "a")]["image"])  # the base was deleted once refined
    assert client.image_repo.get_image(by[("refined", "a")]["image"]).image_name == by[("refined", "a")]["image"]
    # every keyword reached the stage it names
    refine_graph = client.queue_repo.get_item(by[("refined", "a")]["item_id"]).to_dict()["session"]["graph"]["nodes"]
    assert refine_graph["denoise"]["steps"] == 3 and refine_graph["strength_to_start"]["b"] == 0.6
    base_graph = client.queue_repo.get_item(by[("base", "a")]["item_id"]).to_dict()["session"]["graph"]["nodes"]
    assert base_graph["denoise"]["steps"] == 2 and base_graph["noise"]["width"] == 64


def test_streaming_pipeline_finishes_the_first_prompt_before_the_last_one_starts(client: InvokeAIClient) -> None:
    refiner = EfficientRefiner(client, boards=BOARDS, cleanup_intermediate=False)
    seen = list(refiner.streaming_pipeline(
        ["p0", "p1", "p2", "p3"], stages=("base", "refine"), look_ahead=1, steps=2, width=64, height=64,
        refiner_steps=2,
    ))
    items = {(s["stage"], s["prompt"]): client.queue_repo.get_item(s["item_id"]) for s in seen}
    first_final = items[("refined", "p0")]
    last_base = items[("base", "p3")]
    assert str(first_final.completed_at) <= str(last_base.started_at)  # follow-ups go to the front
