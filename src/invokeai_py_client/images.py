"""Images: records, metadata, upload, download (streamed or not), stars, deletion, zips.

`ImageRepository` (`client.image_repo`) is written once over its runner (see
`_resource.py`); board handles reuse the flows below.

    >>> repo = client.image_repo                                    # doctest: +SKIP
    >>> dto = repo.upload_image("cat.png", board_id="none")         # doctest: +SKIP
    >>> repo.download_to(dto.image_name, "copy.png")                # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import mimetypes
import os
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias, TypedDict, Unpack

import httpx
from pydantic import Field

from ._capabilities import server_schema
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    InvokeAIError,
    NotFoundError,
    ValidationError,
)
from ._flow import AsyncRunner, Call, Flow, Pause, Runner, SyncRunner, backoff, call, check_media
from ._models import OrderDir, ServerModel
from ._resource import Resource, operation
from ._transport import ClientOptions, backoff_seconds, safe_url, segment

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "AsyncImageRepository",
    "DeleteImagesResult",
    "ImageDTO",
    "ImageFilters",
    "ImageNames",
    "ImagePage",
    "ImageRepository",
    "ImageSource",
    "ImageWorkflow",
    "IncompleteZipError",
]

log = logging.getLogger("invokeai_py_client.images")

IMAGES = "/api/v1/images"
UNCATEGORIZED = "none"
"""The board id the server uses for images on no board."""
CHUNK = 1000
"""The server accepts at most this many image names per request."""
STREAM_CHUNK = 64 * 1024

ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | PILImage"
"""What an upload accepts: a file path, encoded image bytes, or a PIL image."""


class ImageDTO(ServerModel):
    """An image record (`GET /api/v1/images/i/{image_name}`)."""

    image_name: str
    image_url: str | None = None
    thumbnail_url: str | None = None
    image_origin: str | None = None
    image_category: str | None = None
    width: int = 0
    height: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    deleted_at: str | None = None
    is_intermediate: bool = False
    session_id: str | None = None
    node_id: str | None = None
    starred: bool = False
    has_workflow: bool = False
    board_id: str | None = None


class ImagePage(ServerModel):
    """One page of image records, with the total matching the query."""

    items: list[ImageDTO] = Field(default_factory=list)
    offset: int = 0
    limit: int = 0
    total: int = 0


class ImageNames(ServerModel):
    """Every matching image name, in order, with counts (`GET /api/v1/images/names`)."""

    image_names: list[str] = Field(default_factory=list)
    starred_count: int = 0
    total_count: int = 0


class DeleteImagesResult(ServerModel):
    """What a delete did: deleted names, names that failed, boards touched."""

    deleted_images: list[str] = Field(default_factory=list)
    failed_images: list[str] = Field(default_factory=list)
    affected_boards: list[str] = Field(default_factory=list)


class ImageWorkflow(ServerModel):
    """The workflow and graph embedded in an image (either may be None)."""

    workflow: dict[str, Any] | None = None
    graph: dict[str, Any] | None = None


class IncompleteZipError(InvokeAIError):
    """A bulk-download zip was fetched before the server finished writing it."""


# --- pure helpers ---------------------------------------------------------------------


def _image(name: str) -> str:
    return f"{IMAGES}/i/{segment(name, 'image name')}"


def _image_path(name: str, full_resolution: bool = True) -> str:
    return f"{_image(name)}/{'full' if full_resolution else 'thumbnail'}"


def _content_type(filename: str) -> str:
    guessed = mimetypes.guess_type(filename)[0]
    return guessed if guessed and guessed.startswith("image/") else "image/png"


def _open_upload(image: ImageSource, filename: str | None) -> tuple[str, BinaryIO | bytes, bool]:
    """(file name, content, must close) for an upload of a path, bytes or PIL image."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return filename or "image.png", bytes(image), False
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return filename or path.name, path.open("rb"), True
    if hasattr(image, "save") and hasattr(image, "mode"):  # a PIL image
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return filename or "image.png", buffer.getvalue(), False
    raise TypeError(f"cannot upload {type(image).__name__}: give a path, bytes or a PIL image")


def _chunks(names: Sequence[str]) -> list[list[str]]:
    return [list(names[i : i + CHUNK]) for i in range(0, len(names), CHUNK)]


def _parse_json_text(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    parsed = json.loads(value)
    return parsed if isinstance(parsed, dict) else None


def zip_is_complete(path: Path) -> bool:
    """True when `path` is a whole zip (its central directory is written last)."""
    try:
        with zipfile.ZipFile(path) as archive:
            archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return True


# --- streamed downloads ---------------------------------------------------------------


def _open_stream(path: str) -> Flow[httpx.Response]:
    response: httpx.Response = yield Call("GET", path, stream=True, expect="bytes")
    return response


@dataclass(frozen=True)
class ReadWhole:
    """A step: the body of `path` (an API route), read in chunks and joined.

    Not `response.content`: httpx's response and its stream refer to each other, so a
    response read whole keeps its body alive until the garbage collector happens to
    run (tens of MB after a few full-size images); a streamed one never holds it.
    """

    path: str
    media: str
    """What the answer must be (a content-type prefix)."""

    def run_sync(self, runner: SyncRunner) -> bytes:
        attempt = 0
        while True:
            with contextlib.closing(runner.run(_open_stream(self.path))) as response:
                check_media(response, self.media)
                try:
                    return b"".join(response.iter_bytes(STREAM_CHUNK))
                except httpx.HTTPError as exc:
                    error = _stream_error(exc, response)
            time.sleep(_read_again_after(runner.options, attempt, error))
            attempt += 1

    async def run_async(self, runner: AsyncRunner) -> bytes:
        attempt = 0
        while True:
            async with contextlib.aclosing(await runner.run(_open_stream(self.path))) as response:
                check_media(response, self.media)
                try:
                    return b"".join([chunk async for chunk in response.aiter_bytes(STREAM_CHUNK)])
                except httpx.HTTPError as exc:
                    error = _stream_error(exc, response)
            await asyncio.sleep(_read_again_after(runner.options, attempt, error))
            attempt += 1


def _read_again_after(options: ClientOptions, attempt: int, error: APIConnectionError) -> float:
    """Seconds before a GET whose body broke off is sent again (as a GET that failed before
    its answer would be); raises `error` once `max_retries` are spent."""
    if attempt >= options.max_retries:
        raise error
    delay = backoff_seconds(attempt, options.backoff_base, options.backoff_max)
    log.warning("%s; retry %d/%d in %.2fs", error, attempt + 1, options.max_retries, delay)
    return delay


@dataclass(frozen=True)
class Download:
    """A step: stream `path` (an API route) to the file `dest`.

    Written to `dest` + ``.part`` in chunks and renamed when complete, so a failed
    download never leaves a truncated file under the real name.
    """

    path: str
    dest: Path
    media: str
    """What the answer must be (a content-type prefix), checked before anything is written."""

    @property
    def part(self) -> Path:
        return self.dest.with_name(self.dest.name + ".part")

    def run_sync(self, runner: SyncRunner) -> Path:
        with contextlib.closing(runner.run(_open_stream(self.path))) as response, self._writing(response) as out:
            for chunk in response.iter_bytes(STREAM_CHUNK):
                out.write(chunk)
        return self.dest

    async def run_async(self, runner: AsyncRunner) -> Path:
        async with contextlib.aclosing(await runner.run(_open_stream(self.path))) as response:
            with self._writing(response) as out:
                async for chunk in response.aiter_bytes(STREAM_CHUNK):
                    out.write(chunk)
        return self.dest

    @contextlib.contextmanager
    def _writing(self, response: httpx.Response) -> Iterator[BinaryIO]:
        """The `.part` file to write into; renamed to `dest` when complete, removed when not."""
        check_media(response, self.media)
        try:
            with self.part.open("wb") as out:
                yield out
        except httpx.HTTPError as exc:
            self.part.unlink(missing_ok=True)
            raise _stream_error(exc, response) from exc
        except OSError as exc:  # a full disk, a missing or unwritable directory
            self._discard_part()
            raise self._write_error(exc) from exc
        except BaseException:
            self._discard_part()
            raise
        try:
            os.replace(self.part, self.dest)
        except OSError as exc:
            self._discard_part()
            raise self._write_error(exc) from exc

    def _discard_part(self) -> None:
        with contextlib.suppress(OSError):  # it may never have been made
            self.part.unlink(missing_ok=True)

    def _write_error(self, exc: OSError) -> InvokeAIError:
        return InvokeAIError(f"could not write the download to {str(self.dest)!r}: {exc.strerror or exc}")


def _stream_error(exc: httpx.HTTPError, response: httpx.Response) -> APIConnectionError:
    error = APIConnectionError(
        f"GET {safe_url(response.request)}: the download broke off ({type(exc).__name__}: {exc})",
        request=response.request,
    )
    error.__cause__ = exc
    return error


# --- flows shared with board handles ----------------------------------------------------


def upload_flow(
    image: ImageSource,
    *,
    board_id: str | None = None,
    is_intermediate: bool = False,
    image_category: str = "general",
    filename: str | None = None,
) -> Flow[ImageDTO]:
    """Upload one image (never retried: a retry could store it twice)."""
    name, content, must_close = _open_upload(image, filename)
    params: dict[str, Any] = {"image_category": image_category, "is_intermediate": is_intermediate}
    if board_id and board_id != UNCATEGORIZED:
        params["board_id"] = board_id
    try:
        return (
            yield from call(
                ImageDTO, "POST", f"{IMAGES}/upload", params=params,
                files={"file": (name, content, _content_type(name))}, retry=False,
            )
        )
    except APIStatusError as exc:
        raise type(exc)(f"uploading {name!r}: {exc}", response=exc.response, body=exc.body) from exc
    finally:
        if must_close and not isinstance(content, bytes):
            content.close()


def download_flow(image_name: str, full_resolution: bool = True) -> Flow[bytes]:
    """The image file's bytes (PNG for full resolution, WebP for thumbnails)."""
    answer: bytes = yield ReadWhole(_image_path(image_name, full_resolution), "image/")
    return answer


def download_to_flow(image_name: str, dest: str | os.PathLike[str], full_resolution: bool = True) -> Flow[Path]:
    """Stream the image file to `dest` in chunks (never held whole in memory)."""
    path: Path = yield Download(_image_path(image_name, full_resolution), _file_destination(dest), "image/")
    return path


def _file_destination(dest: str | os.PathLike[str]) -> Path:
    path = Path(dest)
    if path.is_dir():
        raise ValidationError(f"download destination {str(path)!r} is a directory: give the file's path")
    return path


def delete_image_flow(image_name: str) -> Flow[DeleteImagesResult]:
    answer = yield from call(object, "DELETE", _image(image_name))
    if answer is not None:
        return DeleteImagesResult.model_validate(answer)
    # 5.x answers nothing (and swallows failures): whether it went, a lookup tells.
    try:
        yield from call(dict[str, Any], "GET", _image(image_name))
    except NotFoundError:
        return DeleteImagesResult(deleted_images=[image_name])
    return DeleteImagesResult(failed_images=[image_name])


def star_flow(image_names: Sequence[str], star: bool) -> Flow[list[str]]:
    """Star or unstar images; answers the names the server changed."""
    route, key = ("star", "starred_images") if star else ("unstar", "unstarred_images")
    changed: list[str] = []
    for chunk in _chunks(image_names):
        answer = yield from call(dict[str, Any], "POST", f"{IMAGES}/{route}", json={"image_names": chunk}, retry=True)
        changed += _names(answer, key, "updated_image_names")
    return changed


def _names(answer: dict[str, Any], key: str, key_5x: str) -> list[str]:
    """The names an images/boards update answers: under `key`, or 5.x's `key_5x`."""
    names = answer[key] if key in answer else answer.get(key_5x, [])
    return [str(n) for n in names]


class ImageFilters(TypedDict, total=False):
    """Which images a listing answers (every filter is optional)."""

    board_id: str | None
    """A board id, ``"none"`` for uncategorized images, None for all."""
    categories: Sequence[str] | None
    is_intermediate: bool | None
    order_dir: OrderDir
    starred_first: bool
    search_term: str | None


def _params(filters: ImageFilters) -> dict[str, Any]:
    return {
        "board_id": filters.get("board_id"),
        "categories": list(filters.get("categories") or []) or None,
        "is_intermediate": filters.get("is_intermediate"),
        "order_dir": filters.get("order_dir", "DESC"),
        "starred_first": filters.get("starred_first", True),
        "search_term": filters.get("search_term") or None,
    }


def list_images_flow(offset: int = 0, limit: int = 100, **filters: Unpack[ImageFilters]) -> Flow[ImagePage]:
    """One page of image records, paged by the server (`GET /api/v1/images/`)."""
    params = {**_params(filters), "offset": offset, "limit": limit}
    return (yield from call(ImagePage, "GET", f"{IMAGES}/", params=params))


NAMES_ROUTE = f"{IMAGES}/names"
BY_NAMES_ROUTE = f"{IMAGES}/images_by_names"


def image_names_flow(**filters: Unpack[ImageFilters]) -> Flow[ImageNames]:
    """Every matching image name in one request (the server does not page this route).

    Servers without it (5.x) page their image records instead, in the same order.
    """
    schema = yield server_schema()
    if schema.has("GET", NAMES_ROUTE):
        return (yield from call(ImageNames, "GET", NAMES_ROUTE, params=_params(filters)))
    names: list[str] = []
    starred = 0
    while True:
        page = yield from list_images_flow(len(names), CHUNK, **filters)
        names += [i.image_name for i in page.items]
        starred += sum(1 for i in page.items if i.starred)
        if not page.items or len(names) >= page.total:
            return ImageNames(image_names=names, starred_count=starred, total_count=len(names))


def move_to_board_flow(board_id: str, image_names: Sequence[str]) -> Flow[list[str]]:
    """Put images on a board, moving them off any other (``"none"``: off every board).

    Answers the names moved.
    """
    if board_id == UNCATEGORIZED:
        route, body, key = "batch/delete", {}, "removed_images"
    else:
        route, body, key = "batch", {"board_id": board_id}, "added_images"
    moved: list[str] = []
    for chunk in _chunks(image_names):
        answer = yield from call(
            dict[str, Any], "POST", f"/api/v1/board_images/{route}", json={**body, "image_names": chunk}, retry=True
        )
        moved += _names(answer, key, key.replace("_images", "_image_names"))
    return moved


# --- bulk downloads ---------------------------------------------------------------------


def _start_zip_flow(image_names: Sequence[str] | None, board_id: str | None) -> Flow[str]:
    if not image_names and not board_id:
        raise InvokeAIError("give image names or a board id to download")
    body: dict[str, Any] = {"image_names": list(image_names) if image_names else None, "board_id": board_id}
    answer = yield from call(dict[str, Any], "POST", f"{IMAGES}/download", json=body, retry=False)
    name = answer.get("bulk_download_item_name")
    if not name:
        raise InvokeAIError(f"bulk download answered without an item name: {answer!r}")
    return str(name)



def _fetch_zip_flow(name: str, target: Path, timeout: float | None) -> Flow[Path]:
    deadline = None if timeout is None else time.monotonic() + timeout
    for delay in backoff(first=0.1, cap=1.0):
        try:
            yield Download(f"{IMAGES}/download/{segment(name, 'bulk download')}", _file_destination(target), "application/zip")
        except NotFoundError:
            if deadline is not None and time.monotonic() + delay > deadline:
                raise InvokeAIError(f"bulk download {name!r} not ready after {timeout}s") from None
            yield Pause(delay)
            continue
        if not zip_is_complete(target):
            target.unlink(missing_ok=True)
            raise IncompleteZipError(f"bulk download {name!r} was fetched while still being written")
        return target
    raise AssertionError("unreachable")


# --- the repository ---------------------------------------------------------------------


class ImageFiles(Resource[Runner]):
    """Image files by name: what the image repository and every board handle offer."""

    @operation
    def download_image(self, image_name: str, full_resolution: bool = True) -> Flow[bytes]:
        """The image file's bytes (the thumbnail with `full_resolution=False`)."""
        return download_flow(image_name, full_resolution)

    @operation
    def download_to(
        self, image_name: str, dest: str | os.PathLike[str], full_resolution: bool = True
    ) -> Flow[Path]:
        """Stream the image file to `dest` without holding it in memory."""
        return download_to_flow(image_name, dest, full_resolution)

    @operation
    def delete_image(self, image_name: str) -> Flow[DeleteImagesResult]:
        return delete_image_flow(image_name)


class ImageRepository(ImageFiles[Runner]):
    """`client.image_repo`: image records and files."""

    @operation
    def get_image(self, image_name: str) -> Flow[ImageDTO]:
        return call(ImageDTO, "GET", _image(image_name))

    @operation
    def get_images_by_names(self, image_names: Sequence[str]) -> Flow[list[ImageDTO]]:
        """The records of these images (names the server does not know are left out)."""
        out: list[ImageDTO] = []
        schema = yield server_schema()
        if not schema.has("POST", BY_NAMES_ROUTE):  # 5.x: one request per image
            for name in image_names:
                try:
                    out.append((yield from call(ImageDTO, "GET", _image(name))))
                except NotFoundError:
                    continue
            return out
        for chunk in _chunks(image_names):
            out += yield from call(
                list[ImageDTO], "POST", BY_NAMES_ROUTE, json={"image_names": chunk}, retry=True
            )
        return out

    @operation
    def get_metadata(self, image_name: str) -> Flow[dict[str, Any] | None]:
        """The generation metadata stored with an image (None when it has none)."""
        answer = yield from call(object, "GET", f"{_image(image_name)}/metadata")
        return answer if isinstance(answer, dict) else None

    @operation
    def get_workflow(self, image_name: str) -> Flow[ImageWorkflow]:
        """The workflow (and graph) embedded in an image, decoded (the server sends JSON text)."""
        answer = yield from call(dict[str, Any], "GET", f"{_image(image_name)}/workflow")
        return ImageWorkflow(
            workflow=_parse_json_text(answer.get("workflow")), graph=_parse_json_text(answer.get("graph"))
        )

    @operation
    def list_images(
        self, offset: int = 0, limit: int = 100, **filters: Unpack[ImageFilters]
    ) -> Flow[ImagePage]:
        """One server-side page of image records."""
        return list_images_flow(offset, limit, **filters)

    @operation
    def list_image_names(self, **filters: Unpack[ImageFilters]) -> Flow[ImageNames]:
        """All matching names in order (one request)."""
        return image_names_flow(**filters)

    @operation
    def upload_image(
        self,
        image: ImageSource,
        *,
        board_id: str | None = None,
        is_intermediate: bool = False,
        image_category: str = "general",
        filename: str | None = None,
    ) -> Flow[ImageDTO]:
        """Upload a file path, encoded bytes or a PIL image; answers its record."""
        return upload_flow(
            image, board_id=board_id, is_intermediate=is_intermediate,
            image_category=image_category, filename=filename,
        )

    @operation
    def delete_images(self, image_names: Sequence[str]) -> Flow[DeleteImagesResult]:
        total = DeleteImagesResult()
        for chunk in _chunks(image_names):
            part = yield from call(
                DeleteImagesResult, "POST", f"{IMAGES}/delete", json={"image_names": chunk}, retry=True
            )
            total.deleted_images += part.deleted_images
            total.failed_images += part.failed_images
            total.affected_boards += [b for b in part.affected_boards if b not in total.affected_boards]
        return total

    @operation
    def star_images(self, image_names: Sequence[str]) -> Flow[list[str]]:
        return star_flow(image_names, True)

    @operation
    def unstar_images(self, image_names: Sequence[str]) -> Flow[list[str]]:
        return star_flow(image_names, False)

    @operation
    def add_images_to_board(self, board_id: str, image_names: Sequence[str]) -> Flow[list[str]]:
        return move_to_board_flow(board_id, image_names)

    @operation
    def remove_images_from_board(self, image_names: Sequence[str]) -> Flow[list[str]]:
        return move_to_board_flow(UNCATEGORIZED, image_names)

    @operation
    def count_intermediates(self) -> Flow[int]:
        return call(int, "GET", f"{IMAGES}/intermediates")

    @operation
    def delete_intermediates(self) -> Flow[int]:
        """Delete every intermediate image; answers how many."""
        return call(int, "DELETE", f"{IMAGES}/intermediates")

    @operation
    def start_bulk_download(
        self, image_names: Sequence[str] | None = None, board_id: str | None = None
    ) -> Flow[str]:
        """Start zipping on the server; answers the zip's name (see `fetch_bulk_download`).

        The server announces completion with a `bulk_download_complete` socket event
        in the bulk-download room; `fetch_bulk_download` polls instead.
        """
        return _start_zip_flow(image_names, board_id)

    @operation
    def fetch_bulk_download(
        self, name: str, dest: str | os.PathLike[str], timeout: float | None = 60.0
    ) -> Flow[Path]:
        """Wait for the zip `name` and stream it to `dest` (the server then deletes it).

        The server writes a zip in place, so one fetched while still being written
        comes back truncated: that is an `IncompleteZipError` (`bulk_download` starts over).
        """
        return _fetch_zip_flow(name, Path(dest), timeout)

    @operation
    def bulk_download(
        self,
        dest: str | os.PathLike[str],
        image_names: Sequence[str] | None = None,
        board_id: str | None = None,
        timeout: float | None = 60.0,
        attempts: int = 3,
    ) -> Flow[Path]:
        """Zip images (a list, or a whole board) on the server and save the zip to `dest`."""
        for attempt in range(attempts):
            name = yield from _start_zip_flow(image_names, board_id)
            # Give the server a moment to write small zips before the first fetch.
            yield Pause(0.2 * (attempt + 1))
            try:
                return (yield from _fetch_zip_flow(name, Path(dest), timeout))
            except IncompleteZipError:
                log.info("bulk download %s was fetched too early; starting again", name)
        raise InvokeAIError(f"bulk download did not complete in {attempts} attempts")


AsyncImageRepository = ImageRepository[AsyncRunner]
"""`AsyncInvokeAIClient.image_repo`: the same methods, as coroutines."""
