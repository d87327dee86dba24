"""The pipeline classes' async twins, lazy stages and the gated scheduler, on the real server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client.boards import BoardNotFoundError
from invokeai_py_client.pipelines import (
    AdaptivePass,
    AsyncEfficientRefiner,
    AsyncFaceRefiner,
    AsyncMultiStageRefiner,
    AsyncParallelRefiner,
    AsyncProgressiveRefiner,
    DetailEnhancer,
    MultiStageRefiner,
    Next,
    PipelineResult,
    ProgressiveRefiner,
    Stage,
    StageBoards,
    StageOutcome,
    run_chains,
)
from tests.graphs import unique

BOARDS = StageBoards(
    base=unique("ipc-async-base"), refined=unique("ipc-async-refined"), upscaled=unique("ipc-async-upscaled"),
    face_enhanced=unique("ipc-async-face"), detail=unique("ipc-async-detail"),
)


@pytest.fixture(scope="module")
def client(server_url: str) -> Iterator[InvokeAIClient]:
    with InvokeAIClient.from_url(server_url) as c:
        yield c
        for name in (BOARDS.base, BOARDS.refined, BOARDS.upscaled, BOARDS.face_enhanced, BOARDS.detail):
            with contextlib.suppress(BoardNotFoundError):  # that stage never ran
                c.board_repo.delete_board(c.board_repo.resolve_board_id(name), delete_images=True)


def size_of(client: InvokeAIClient, name: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(client.image_repo.download_image(name))) as img:
        return img.size


def test_async_full_pipeline_answers_what_the_sync_one_does(client: InvokeAIClient, server_url: str) -> None:
    async def main() -> PipelineResult:
        async with AsyncInvokeAIClient(server_url) as aclient:
            refiner = AsyncMultiStageRefiner(aclient, boards=BOARDS)
            pending = refiner.full_pipeline("a castle", seed=9, base_steps=2, refiner_steps=2, width=64, height=64)
            assert asyncio.iscoroutine(pending)
            return await pending

    result = asyncio.run(main())
    sync = MultiStageRefiner(client, boards=BOARDS).full_pipeline(
        "a castle", seed=9, base_steps=2, refiner_steps=2, width=64, height=64
    )
    for answer in (result, sync):
        assert isinstance(answer, PipelineResult) and answer.errors == {}
        assert set(answer) == {"base", "refined", "upscaled", "metadata", "errors"}  # the seed's dict keys
        assert answer["upscaled"] == answer.upscaled
        assert size_of(client, answer["base"]) == (64, 64) and size_of(client, answer["upscaled"]) == (128, 128)
        assert [answer.metadata[s].status for s in ("base", "refined", "upscaled")] == ["completed"] * 3
    graphs = [a.metadata["base"].to_dict()["session"]["graph"]["nodes"]["noise"] for a in (result, sync)]
    assert graphs[0]["seed"] == graphs[1]["seed"] == 9


def test_async_twins_of_the_other_classes(client: InvokeAIClient, server_url: str) -> None:
    async def main() -> dict[str, Any]:
        async with AsyncInvokeAIClient(server_url) as aclient:
            efficient = AsyncEfficientRefiner(aclient, boards=BOARDS, cleanup_intermediate=False)
            streamed = [r async for r in efficient.streaming_pipeline(
                ["a", "b"], stages=("base", "refine"), steps=2, width=64, height=64, refiner_steps=2,
            )]
            parallel = AsyncParallelRefiner(aclient, max_workers=2, boards=BOARDS)
            bases = [r["image"] for r in streamed if r["stage"] == "base"]
            refined = await parallel.batch_refine(bases, "x", refiner_steps=2)
            variations = await parallel.parallel_variations(bases[0], ["p", "q"], {"steps": 2})
            progressive = AsyncProgressiveRefiner(aclient, boards=BOARDS)
            passes = await progressive.progressive_refine(bases[0], "y", passes=2, refiner_steps=2)
            face = AsyncFaceRefiner(aclient, boards=BOARDS)
            gray = await face.ensure_image_name(Image.new("RGB", (64, 64), (128, 128, 128)))
            unchanged = await face.detect_and_enhance_faces(gray, 0.5)
            return {"streamed": streamed, "refined": refined, "variations": variations, "passes": passes,
                    "gray": gray, "unchanged": unchanged}

    out = asyncio.run(main())
    assert sorted((r.stage, r.prompt) for r in out["streamed"]) == [
        ("base", "a"), ("base", "b"), ("refined", "a"), ("refined", "b"),
    ]
    assert len(set(out["refined"])) == 2 and len(set(out["variations"])) == 2 and len(set(out["passes"])) == 2
    assert out["unchanged"] == out["gray"]  # no face: the input comes back
    for name in out["refined"] + out["passes"]:
        assert size_of(client, name) == (64, 64)


def test_stages_load_their_workflow_when_first_used(client: InvokeAIClient) -> None:
    enhancer = DetailEnhancer(client, boards=BOARDS)
    assert sorted(enhancer.stages) == ["base", "face", "masked", "refine", "upscale"]
    assert not any(stage.loaded for stage in enhancer.stages.values())  # nothing loaded up front
    image = enhancer.ensure_image_name(Image.new("RGB", (64, 64), (40, 90, 160)))
    enhancer.enhance_textures(image, "wood")
    assert [name for name, stage in enhancer.stages.items() if stage.loaded] == ["refine"]


def test_a_user_stage_runs_a_workflow_by_its_labels(client: InvokeAIClient) -> None:
    stage = Stage(client, "esrgan_upscale.json", board=BOARDS.upscaled)
    source = client.image_repo.upload_image(Image.new("RGB", (32, 32), (200, 10, 10)), is_intermediate=True)
    image, item = stage.run({"Input image": source.image_name, "Scale": 2})
    assert item.status == "completed" and size_of(client, image) == (64, 64)
    assert image in client.board_repo.get_board_handle(BOARDS.upscaled).list_image_names(limit=100)


def test_gated_passes_of_several_images_interleave_and_follow_the_gate(client: InvokeAIClient) -> None:
    # Odd images' bases score low and their first pass high: the gate lets odd images through
    # once and stops even ones at once. A base is told by the prompt its PNG embeds (a hash of
    # the bytes varied from run to run: the PNG embeds ids); a pass embeds the prompt "sharp".
    def score(png: bytes) -> float:
        found = re.search(rb"gated image (\d)", png)
        if found is None:
            assert b"sharp" in png, "the PNG embeds neither a base nor a pass prompt"
            return 0.9
        return 0.1 if int(found.group(1)) % 2 else 0.9

    refiner = ProgressiveRefiner(client, boards=BOARDS, scorer=score)
    images = [
        refiner.generate_base(f"gated image {k}", seed=k, steps=2, width=64, height=64).image for k in range(4)
    ]
    verdicts: list[AdaptivePass] = list(refiner.adaptive_many(
        images, "sharp", quality_threshold=0.5, max_passes=3, refiner_steps=2, look_ahead=1,
    ))
    by_image: dict[int, list[AdaptivePass]] = {}
    for v in verdicts:
        by_image.setdefault(v.index, []).append(v)
    assert sorted(by_image) == [0, 1, 2, 3]
    for index, seen in by_image.items():
        assert [v.passes for v in seen] == list(range(len(seen)))  # one verdict per pass, in order
        *gated, last = seen
        assert all(v.score < 0.5 and not v.done for v in gated)  # each pass the gate let through
        assert last.done and (last.score >= 0.5 or last.passes == 3)  # and the gate's stop
        assert seen[0].image == images[index] and seen[0].item_id is None
        for before, after in itertools.pairwise(seen):  # each pass ran on the previous image
            item = client.queue_repo.get_item(after.item_id)
            graph = item.to_dict()["session"]["graph"]["nodes"]
            assert any(n.get("image", {}).get("image_name") == before.image for n in graph.values()
                       if isinstance(n.get("image"), dict))
    passes = [len(by_image[index]) - 1 for index in range(4)]
    assert passes == [0, 1, 0, 1]  # as the gate decided for each image
    assert sum(passes) == len([v for v in verdicts if v.item_id is not None])  # nothing ran the gate did not ask for


def test_run_chains_follows_each_decision_and_finishes_chains_first(client: InvokeAIClient) -> None:
    refiner = MultiStageRefiner(client, boards=BOARDS)
    base, refine = refiner.stages["base"], refiner.stages["refine"]
    wanted = [2, 0, 1, 2]  # refinement passes per prompt: the decisions

    def start(k: int) -> Next:
        return Next(base, {"Positive prompt": f"chain {k}", "Seed": k, "Steps": 2, "Width": 64, "Height": 64}, "base")

    def decide(outcome: StageOutcome) -> Next | None:
        if outcome.step >= wanted[outcome.chain]:
            return None
        return Next(refine, {"Input image": outcome.image, "Prompt": "x", "Refinement steps": 2}, f"pass {outcome.step + 1}")

    outcomes = list(run_chains(client, len(wanted), start, decide, look_ahead=1))
    names = {k: [o.name for o in outcomes if o.chain == k] for k in range(len(wanted))}
    assert names == {k: ["base"] + [f"pass {p + 1}" for p in range(n)] for k, n in enumerate(wanted)}
    for o in outcomes:  # each pass ran on its chain's previous image
        if o.step:
            previous = next(p for p in outcomes if p.chain == o.chain and p.step == o.step - 1)
            assert o.previous == previous.image
            nodes = o.item.to_dict()["session"]["graph"]["nodes"]
            assert previous.image in str(nodes)
    items = {(o.chain, o.step): o.item for o in outcomes}
    # prepend + look-ahead 1: chain 0's last pass finished before the last chain's base started
    assert str(items[(0, 2)].completed_at) <= str(items[(3, 0)].started_at)


def test_run_chains_on_the_async_client_is_an_async_iterator(server_url: str) -> None:
    async def main() -> list[StageOutcome]:
        async with AsyncInvokeAIClient(server_url) as aclient:
            base = Stage(aclient, "sdxl_base.json", board=BOARDS.base)
            refine = Stage(aclient, "sdxl_refiner.json", board=BOARDS.refined)

            def start(k: int) -> Next:
                return Next(base, {"Positive prompt": f"async {k}", "Seed": k, "Steps": 2, "Width": 64,
                                   "Height": 64}, "base")

            def decide(o: StageOutcome) -> Next | None:
                if o.name != "base":
                    return None
                return Next(refine, {"Input image": o.image, "Prompt": "x", "Refinement steps": 2}, "refined")

            return [o async for o in run_chains(aclient, 2, start, decide)]

    outcomes = asyncio.run(main())
    assert sorted((o.chain, o.name) for o in outcomes) == [(0, "base"), (0, "refined"), (1, "base"), (1, "refined")]
    assert all(o.item.status == "completed" for o in outcomes)
