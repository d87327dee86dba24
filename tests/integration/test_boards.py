"""Boards and board handles against the real local server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient, NotFoundError, ValidationError
from invokeai_py_client.boards import UNCATEGORIZED, BoardNotFoundError


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def png_bytes(seed: int = 0, size: int = 8) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_board_lifecycle(server_url: str) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.board_repo
        name, renamed = unique("life"), unique("renamed")
        board = repo.create_board(name)
        created: list[str] = [board.board_id]
        try:
            assert repo.get_board(board.board_id).board_name == name
            assert board.board_id in {b.board_id for b in repo.list_boards()}
            assert repo.get_or_create_board(name).board_id == board.board_id
            assert repo.rename_board(board.board_id, renamed).board_name == renamed
            assert repo.get_board_handle(renamed).board_id == board.board_id
            handle = repo.get_board_handle(board.board_id)
            assert (handle.board_id, handle.name) == (board.board_id, renamed)

            assert repo.archive_board(board.board_id).archived is True
            assert board.board_id not in {b.board_id for b in repo.list_boards()}
            assert board.board_id in {b.board_id for b in repo.list_boards(include_archived=True)}
            assert repo.resolve_board_id(renamed) == board.board_id  # archived boards still resolve
            assert repo.unarchive_board(board.board_id).archived is False
            assert board.board_id in {b.board_id for b in repo.list_boards()}

            made = repo.get_or_create_board(unique("made"))
            created.append(made.board_id)
            fresh = unique("fresh")
            fresh_id = repo.resolve_board_id(fresh, create=True)
            created.append(fresh_id)
            assert repo.get_board(fresh_id).board_name == fresh
            assert repo.resolve_board_id(UNCATEGORIZED) == UNCATEGORIZED
            assert repo.get_board_handle("none").board_id == UNCATEGORIZED
        finally:
            for board_id in created:
                repo.delete_board(board_id)
        for board_id in created:
            with pytest.raises(NotFoundError):
                repo.get_board(board_id)


def test_names_that_match_several_boards_or_none(server_url: str) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.board_repo
        name = unique("twin")
        twins = [repo.create_board(name), repo.create_board(name)]
        try:
            with pytest.raises(ValidationError) as several:
                repo.get_board_handle(name)
            for twin in twins:
                assert twin.board_id in str(several.value)
            missing = unique("missing")
            with pytest.raises(BoardNotFoundError) as unknown:
                repo.get_board_handle(missing)
            assert missing in str(unknown.value)
            assert name in unknown.value.available and name in str(unknown.value)
        finally:
            for twin in twins:
                repo.delete_board(twin.board_id)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_board_handle_images(server_url: str, tmp_path: Path, mode: str) -> None:
    if mode == "sync":
        _handle_images_sync(server_url, tmp_path)
    else:
        asyncio.run(_handle_images_async(server_url, tmp_path))


def _handle_images_sync(server_url: str, tmp_path: Path) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.board_repo
        board = repo.get_board_handle(unique("handle"), create=True)
        other = repo.get_board_handle(unique("other"), create=True)
        try:
            path = tmp_path / "from-path.png"
            path.write_bytes(png_bytes(1))
            a = board.upload_image(path)
            b = board.upload_image(png_bytes(2), filename="from-bytes.png")
            c = board.upload_image(Image.new("RGB", (8, 8), (1, 2, 3)))
            assert {a.board_id, b.board_id, c.board_id} == {board.board_id}
            newest_first = board.list_image_names()
            assert newest_first == [c.image_name, b.image_name, a.image_name]
            assert board.list_image_names(order_dir="ASC") == newest_first[::-1]
            assert board.list_image_names(offset=1, limit=1) == [b.image_name]
            assert board.refresh().image_count == 3

            assert board.star_image(a.image_name) is True
            assert board.list_image_names(starred_first=True)[0] == a.image_name
            assert board.unstar_image(a.image_name) is True
            assert board.list_image_names(starred_first=True)[0] == c.image_name
            assert board.list_image_names(search_term=unique("nothing-matches")) == []

            data = board.download_image(b.image_name)
            assert board.download_to(b.image_name, tmp_path / "b.png").read_bytes() == data
            assert board.download_image(b.image_name, full_resolution=False)[:4] == b"RIFF"

            assert board.move_image(a.image_name, other) is True
            assert other.list_image_names() == [a.image_name]
            assert board.remove_image(b.image_name) is True
            assert client.image_repo.get_image(b.image_name).board_id in (None, UNCATEGORIZED)
            assert b.image_name in repo.uncategorized().list_image_names()
            assert board.add_image(b.image_name) is True
            assert set(board.list_image_names()) == {b.image_name, c.image_name}

            deleted = board.delete_image(c.image_name)
            assert deleted.deleted_images == [c.image_name]
            assert board.list_image_names() == [b.image_name]

            # Deleting a board without its images leaves them uncategorized...
            kept = repo.delete_board(other.board_id)
            assert kept.deleted_images == []
            assert client.image_repo.get_image(a.image_name).board_id in (None, UNCATEGORIZED)
            client.image_repo.delete_image(a.image_name)
            # ...and with them, deletes them.
            gone = repo.delete_board(board.board_id, delete_images=True)
            assert gone.deleted_images == [b.image_name]
            with pytest.raises(NotFoundError):
                client.image_repo.get_image(b.image_name)
        finally:
            for handle in (board, other):
                with contextlib.suppress(NotFoundError):
                    repo.delete_board(handle.board_id, delete_images=True)


async def _handle_images_async(server_url: str, tmp_path: Path) -> None:
    async with AsyncInvokeAIClient(server_url, use_events=False) as client:
        repo = client.board_repo
        board = await repo.get_board_handle(unique("async"), create=True)
        try:
            a = await board.upload_image(png_bytes(3), filename="a.png")
            b = await board.upload_image(png_bytes(4), filename="b.png")
            assert await board.list_image_names() == [b.image_name, a.image_name]
            page = await client.image_repo.list_images(offset=0, limit=1, board_id=board.board_id)
            assert page.total == 2 and [i.image_name for i in page.items] == [b.image_name]
            assert await board.list_images(offset=1, limit=5) == [a.image_name]  # 1.1.1's: names
            data = await board.download_image(a.image_name)
            assert (await board.download_to(a.image_name, tmp_path / "a.png")).read_bytes() == data
            assert await board.star_image(a.image_name)
            assert (await board.list_image_names(starred_first=True))[0] == a.image_name
            assert await board.remove_image(a.image_name)
            assert a.image_name in await repo.uncategorized().list_image_names()
            assert await board.move_image(a.image_name, board.board_id)
            assert (await board.refresh()).image_count == 2
            assert (await board.delete_image(b.image_name)).deleted_images == [b.image_name]
        finally:
            result = await repo.delete_board(board.board_id, delete_images=True)
        assert result.deleted_images == [a.image_name]


def test_uncategorized_board(server_url: str) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        loose = client.board_repo.uncategorized()
        assert loose.board_id == UNCATEGORIZED
        dto = loose.upload_image(png_bytes(5), filename="loose.png")
        try:
            assert dto.board_id in (None, UNCATEGORIZED)
            assert dto.image_name in loose.list_image_names()
            assert loose.download_image(dto.image_name)[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            loose.delete_image(dto.image_name)
        assert dto.image_name not in loose.list_image_names()
        with pytest.raises(ValidationError):
            client.board_repo.delete_board(UNCATEGORIZED)


def test_listing_1000_images_pages_correctly(server_url: str) -> None:
    count = 1000
    with InvokeAIClient(server_url, use_events=False) as client:
        board = client.board_repo.get_board_handle(unique("thousand"), create=True)
        try:
            images = [png_bytes(i % 7, size=4) for i in range(count)]
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=8) as pool:
                uploaded = list(pool.map(
                    lambda i: board.upload_image(images[i], filename=f"t{i}.png").image_name, range(count)
                ))
            upload_s = time.perf_counter() - started
            assert len(set(uploaded)) == count

            started = time.perf_counter()
            names = board.list_image_names()
            names_s = time.perf_counter() - started
            assert len(names) == count and set(names) == set(uploaded)
            assert board.list_image_names(offset=250, limit=100) == names[250:350]
            assert board.list_image_names(offset=990, limit=100) == names[990:]

            started = time.perf_counter()
            paged: list[str] = []
            offset = 0
            while True:
                page = client.image_repo.list_images(offset=offset, limit=100, board_id=board.board_id)
                assert page.total == count
                paged += [i.image_name for i in page.items]
                if len(page.items) < 100:
                    break
                offset += 100
            pages_s = time.perf_counter() - started
            assert paged == names  # same order, every image exactly once
            assert board.refresh().image_count == count
            print(f"\n1000 images: upload {upload_s:.2f}s (8 threads), names {names_s * 1000:.0f} ms, "
                  f"11 pages of records {pages_s * 1000:.0f} ms")
        finally:
            result = client.board_repo.delete_board(board.board_id, delete_images=True)
        assert len(result.deleted_images) == count
        assert client.image_repo.get_images_by_names(uploaded[:50]) == []
