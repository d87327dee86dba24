"""Downloads that cannot be written, or break off: a clear error, no `.part` left, a rerun finishes.

The disk fills up mid-write (the `.part` file's writes raise ENOSPC after part of the
image, as a full disk does), the destination's directory does not exist or is a
file (the machine runs tests as root, so a directory without write permission
would not stop it), or the connection is cut mid-response by the fault proxy.
"""

from __future__ import annotations

import errno
import os
import pathlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import APIConnectionError, InvokeAIClient, InvokeAIError
from tests.graphs import blank_image_body
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.test_proxy_faults import CLIENTS, maybe, with_client

Record = Callable[[str, object], None]


@pytest.fixture(scope="module")
def image(server_url: str) -> tuple[str, bytes]:
    """A finished job's image name and its bytes as the server gives them."""
    with InvokeAIClient(server_url, use_events=False) as client:
        item = client.queue_repo.enqueue_batch(blank_image_body(red=150))[0].wait(timeout=60)
        (name,) = [r["image"]["image_name"] for r in (item.session or {})["results"].values() if "image" in r]
        return name, client.image_repo.download_image(name)


class _FullDisk:
    """A `.part` file on a disk that fills up: the first write stores half, then ENOSPC."""

    def __init__(self, real: Any, path: Path) -> None:
        self.real, self.path = real, path

    def write(self, data: bytes) -> int:
        self.real.write(data[: len(data) // 2])
        self.real.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    def close(self) -> None:
        self.real.close()

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def download(client_kind: str, url: str, name: str, dest: Path) -> Any:
    return with_client(client_kind, url, lambda c: maybe(c.image_repo.download_to(name, dest)), use_events=False)


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_a_full_disk_is_a_clear_error_leaving_no_part_and_a_rerun_finishes(
    server_url: str, image: tuple[str, bytes], tmp_path: Path, client_kind: str,
    monkeypatch: pytest.MonkeyPatch, record_property: Record,
) -> None:
    name, expected = image
    dest = tmp_path / "out.png"
    real_open = pathlib.Path.open

    def open_on_a_full_disk(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, mode, *args, **kwargs)
        return _FullDisk(handle, self) if self.name.endswith(".part") and "w" in mode else handle

    monkeypatch.setattr(pathlib.Path, "open", open_on_a_full_disk)
    with pytest.raises(InvokeAIError) as info:
        download(client_kind, server_url, name, dest)
    monkeypatch.undo()
    assert str(dest) in str(info.value) and "No space left on device" in str(info.value)
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no .part, no truncated image
    assert download(client_kind, server_url, name, dest) == dest  # the rerun
    assert dest.read_bytes() == expected
    record_property("faults_injected", 1)
    record_property("faults_survived", 1)


@pytest.mark.parametrize("where", ["missing directory", "a file as directory"])
def test_an_unwritable_destination_is_a_clear_error_naming_the_file(
    server_url: str, image: tuple[str, bytes], tmp_path: Path, where: str, record_property: Record
) -> None:
    name, expected = image
    parent = tmp_path / "outputs"
    if where == "a file as directory":
        parent.write_text("not a directory")
    dest = parent / "out.png"
    with pytest.raises(InvokeAIError) as info:
        download("sync", server_url, name, dest)
    assert str(dest) in str(info.value)
    assert not (parent / "out.png.part").exists() if parent.is_dir() else True
    assert sorted(p.name for p in tmp_path.iterdir()) == (["outputs"] if parent.exists() else [])
    if where == "a file as directory":
        parent.unlink()
    parent.mkdir()
    assert download("sync", server_url, name, dest) == dest
    assert dest.read_bytes() == expected
    record_property("faults_injected", 1)
    record_property("faults_survived", 1)


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_a_download_cut_mid_response_leaves_no_part_and_a_rerun_finishes(
    server_url: str, proxy_to: Callable[[str], FaultProxy], image: tuple[str, bytes], tmp_path: Path,
    client_kind: str, record_property: Record,
) -> None:
    name, expected = image
    proxy = proxy_to(server_url)
    fault = proxy.inject("GET", r"/api/v1/images/i/[^/]+/full", "cut_mid_response")
    dest = tmp_path / "out.png"
    with pytest.raises(APIConnectionError) as info:
        download(client_kind, proxy.url, name, dest)
    assert "download broke off" in str(info.value)
    assert list(tmp_path.iterdir()) == []
    assert download(client_kind, proxy.url, name, dest) == dest
    assert dest.read_bytes() == expected
    record_property("faults_injected", fault.hits)
    record_property("faults_survived", fault.hits)
