"""Images against the real local server: upload/download, streaming, stars, deletes, zips."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import tracemalloc
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient, NotFoundError
from invokeai_py_client.images import ImageDTO


def png_bytes(width: int = 16, height: int = 16, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_upload_then_download_is_byte_identical(server_url: str, tmp_path: Path, mode: str) -> None:
    data = png_bytes(40, 30, seed=1)
    source = tmp_path / "source.png"
    source.write_bytes(data)

    def check(dto: ImageDTO, full: bytes, thumb: bytes, streamed: Path) -> None:
        assert (dto.width, dto.height, dto.image_category, dto.is_intermediate) == (40, 30, "general", False)
        # The server re-encodes uploads (PNG, its own compression): pixels survive exactly.
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(full))), np.asarray(Image.open(io.BytesIO(data))))
        assert streamed.read_bytes() == full
        assert not streamed.with_name(streamed.name + ".part").exists()
        assert thumb[:4] == b"RIFF" and thumb != data  # thumbnails are WebP

    if mode == "sync":
        with InvokeAIClient(server_url, use_events=False) as client:
            repo = client.image_repo
            dto = repo.upload_image(source)
            try:
                assert repo.get_image(dto.image_name).image_name == dto.image_name
                check(dto, repo.download_image(dto.image_name),
                      repo.download_image(dto.image_name, full_resolution=False),
                      repo.download_to(dto.image_name, tmp_path / "out.png"))
                assert repo.get_metadata(dto.image_name) is None
                embedded = repo.get_workflow(dto.image_name)
                assert (embedded.workflow, embedded.graph) == (None, None)
                # A file the server wrote comes back byte for byte after a round trip.
                first = repo.download_image(dto.image_name)
                again = repo.upload_image(first, filename="again.png")
                try:
                    assert repo.download_image(again.image_name) == first
                finally:
                    repo.delete_image(again.image_name)
            finally:
                repo.delete_image(dto.image_name)
            with pytest.raises(NotFoundError):
                repo.get_image(dto.image_name)
        return

    async def run() -> None:
        async with AsyncInvokeAIClient(server_url, use_events=False) as client:
            repo = client.image_repo
            dto = await repo.upload_image(data, filename="bytes.png")
            try:
                check(dto, await repo.download_image(dto.image_name),
                      await repo.download_image(dto.image_name, full_resolution=False),
                      await repo.download_to(dto.image_name, tmp_path / "out.png"))
                assert await repo.get_metadata(dto.image_name) is None
            finally:
                await repo.delete_image(dto.image_name)
            with pytest.raises(NotFoundError):
                await repo.get_image(dto.image_name)

    asyncio.run(run())


def test_pil_image_and_intermediate_upload(server_url: str) -> None:
    picture = Image.new("RGB", (24, 12), (10, 200, 30))
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.image_repo
        dto = repo.upload_image(picture, is_intermediate=True)
        try:
            assert dto.is_intermediate and (dto.width, dto.height) == (24, 12)
            back = Image.open(io.BytesIO(repo.download_image(dto.image_name)))
            assert back.getpixel((3, 3)) == (10, 200, 30)
            assert repo.count_intermediates() >= 1
            assert repo.delete_intermediates() >= 1
            with pytest.raises(NotFoundError):
                repo.get_image(dto.image_name)
        finally:
            with contextlib.suppress(NotFoundError):
                repo.delete_image(dto.image_name)


def test_streamed_50mb_download_stays_small_in_memory(server_url: str, tmp_path: Path) -> None:
    # 4096x4096 random RGB barely compresses: a ~48 MB PNG.
    pixels = np.random.default_rng(7).integers(0, 256, (4096, 4096, 3), dtype=np.uint8)
    source = tmp_path / "big.png"
    Image.fromarray(pixels).save(source, format="PNG", compress_level=1)
    del pixels
    size = source.stat().st_size
    assert size > 45_000_000
    with InvokeAIClient(server_url, use_events=False, timeout=300) as client:
        repo = client.image_repo
        dto = repo.upload_image(source)
        try:
            dest = tmp_path / "big-copy.png"
            tracemalloc.start()
            try:
                repo.download_to(dto.image_name, dest)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            print(f"\n50 MB download_to: source {size / 1e6:.1f} MB, server file "
                  f"{dest.stat().st_size / 1e6:.1f} MB, tracemalloc peak {peak / 1e6:.2f} MB")
            assert peak < 4_000_000, f"peak {peak} bytes for a {size}-byte file"
            whole = repo.download_image(dto.image_name)
            assert dest.stat().st_size == len(whole)
            assert sha256_file(dest) == hashlib.sha256(whole).hexdigest()
            del whole
            with Image.open(dest) as copy, Image.open(source) as original:
                assert np.array_equal(np.asarray(copy), np.asarray(original))
        finally:
            repo.delete_image(dto.image_name)


def test_many_images_star_lookup_delete(server_url: str) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.image_repo
        names = [repo.upload_image(png_bytes(seed=i), filename=f"m{i}.png").image_name for i in range(4)]
        try:
            assert sorted(repo.star_images(names[:2])) == sorted(names[:2])
            dtos = {d.image_name: d for d in repo.get_images_by_names(names)}
            assert [dtos[n].starred for n in names] == [True, True, False, False]
            assert repo.unstar_images(names[:1]) == names[:1]
            assert repo.get_image(names[0]).starred is False
            result = repo.delete_images(names)
            assert sorted(result.deleted_images) == sorted(names)
            assert repo.get_images_by_names(names) == []
        finally:
            repo.delete_images(names)


def test_bulk_download_zip(server_url: str, tmp_path: Path) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.image_repo
        board = client.board_repo.create_board(f"zip-{uuid.uuid4().hex[:8]}")
        names: list[str] = []
        try:
            names = [repo.upload_image(png_bytes(seed=i), board_id=board.board_id).image_name for i in range(3)]
            by_names = repo.bulk_download(tmp_path / "names.zip", image_names=names)
            with zipfile.ZipFile(by_names) as archive:
                assert sorted(Path(n).name for n in archive.namelist()) == sorted(names)
            # By board: start, then fetch by name (polling until the server has it).
            item = repo.start_bulk_download(board_id=board.board_id)
            assert item.endswith(".zip")
            zipped = repo.fetch_bulk_download(item, tmp_path / "board.zip", timeout=30)
            with zipfile.ZipFile(zipped) as archive:
                content = {Path(n).name: archive.read(n) for n in archive.namelist()}
            assert sorted(content) == sorted(names)
            assert content[names[0]] == repo.download_image(names[0])
        finally:
            client.board_repo.delete_board(board.board_id, delete_images=True)


def test_missing_image_errors(server_url: str, tmp_path: Path) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.image_repo
        with pytest.raises(NotFoundError):
            repo.download_image("no-such-image.png")
        dest = tmp_path / "nothing.png"
        with pytest.raises(NotFoundError):
            repo.download_to("no-such-image.png", dest)
        assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
