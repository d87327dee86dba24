"""Boards: list, create, rename, archive, delete, and handles to work with a board's images.

Boards are addressed by id or by name: `get_board_handle("base_stage")` finds the
board named so (an error names every board when none or several match).
The board id ``"none"`` is the uncategorized board (images on no board).

    >>> board = client.board_repo.get_board_handle("base_stage")    # doctest: +SKIP
    >>> dto = board.upload_image("cat.png")                         # doctest: +SKIP
    >>> data = board.download_image(dto.image_name, full_resolution=True)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ._exceptions import InvokeAIError, ValidationError
from ._flow import Call, Flow
from .images import (
    UNCATEGORIZED,
    DeleteImagesResult,
    ImageDTO,
    ImagePage,
    ImageSource,
    OrderDir,
    add_to_board_flow,
    delete_image_flow,
    download_flow,
    download_to_flow,
    image_names_flow,
    list_images_flow,
    remove_from_board_flow,
    star_flow,
    upload_flow,
)
from .queue_models import ServerModel

if TYPE_CHECKING:
    from .client import AsyncInvokeAIClient, InvokeAIClient

__all__ = [
    "UNCATEGORIZED",
    "AsyncBoardHandle",
    "AsyncBoardRepository",
    "Board",
    "BoardHandle",
    "BoardNotFoundError",
    "BoardRepository",
    "DeleteBoardResult",
]

log = logging.getLogger("invokeai_py_client.boards")

BOARDS = "/api/v1/boards"


class Board(ServerModel):
    """A board record (`GET /api/v1/boards/{board_id}`)."""

    board_id: str
    board_name: str
    archived: bool = False
    image_count: int = 0
    asset_count: int = 0
    cover_image_name: str | None = None
    user_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def is_uncategorized(self) -> bool:
        return self.board_id == UNCATEGORIZED


UNCATEGORIZED_BOARD = Board(board_id=UNCATEGORIZED, board_name="Uncategorized")


class DeleteBoardResult(ServerModel):
    """What deleting a board did: images deleted, or only taken off the board."""

    board_id: str
    deleted_board_images: list[str] = Field(default_factory=list)
    deleted_images: list[str] = Field(default_factory=list)
    failed_images: list[str] = Field(default_factory=list)


class BoardNotFoundError(InvokeAIError, LookupError):
    """No board has this id or name; `available` lists the existing board names."""

    def __init__(self, wanted: str, available: Sequence[str]) -> None:
        self.wanted = wanted
        self.available = sorted(available)
        names = ", ".join(repr(n) for n in self.available) or "none"
        super().__init__(f"no board with id or name {wanted!r}; boards: {names}")


# --- flows ------------------------------------------------------------------------------


def list_boards_flow(include_archived: bool = False) -> Flow[list[Board]]:
    answer = yield Call("GET", f"{BOARDS}/", params={"all": True, "include_archived": include_archived})
    return [Board.model_validate(raw) for raw in answer or []]


def get_board_flow(board_id: str) -> Flow[Board]:
    if board_id == UNCATEGORIZED:
        return UNCATEGORIZED_BOARD
    answer = yield Call("GET", f"{BOARDS}/{board_id}")
    return Board.model_validate(answer)


def create_board_flow(board_name: str) -> Flow[Board]:
    if not board_name.strip():
        raise ValidationError("a board name must not be empty")
    answer = yield Call("POST", f"{BOARDS}/", params={"board_name": board_name}, retry=False)
    return Board.model_validate(answer)


def update_board_flow(board_id: str, **changes: Any) -> Flow[Board]:
    answer = yield Call("PATCH", f"{BOARDS}/{board_id}", json=changes, retry=True)
    return Board.model_validate(answer)


def delete_board_flow(board_id: str, delete_images: bool = False) -> Flow[DeleteBoardResult]:
    """Delete a board; its images too with `delete_images`, else they become uncategorized."""
    if board_id == UNCATEGORIZED:
        raise ValidationError("the uncategorized board cannot be deleted")
    answer = yield Call("DELETE", f"{BOARDS}/{board_id}", params={"include_images": delete_images})
    return DeleteBoardResult.model_validate(answer)


def move_images_flow(board_id: str, image_names: Sequence[str]) -> Flow[list[str]]:
    """Put images on a board (``"none"``: take them off any board); answers the names moved."""
    if board_id == UNCATEGORIZED:
        return (yield from remove_from_board_flow(image_names))
    return (yield from add_to_board_flow(board_id, image_names))


def find_board(boards: Sequence[Board], id_or_name: str) -> Board | None:
    """The board with this id, else the one board with this name (pure).

    Raises ValidationError when several boards carry the name.
    """
    if id_or_name == UNCATEGORIZED:
        return UNCATEGORIZED_BOARD
    for board in boards:
        if board.board_id == id_or_name:
            return board
    named = [b for b in boards if b.board_name == id_or_name]
    if len(named) > 1:
        ids = ", ".join(b.board_id for b in named)
        raise ValidationError(
            f"{len(named)} boards are named {id_or_name!r} ({ids}); use a board id",
            problems=[f"{b.board_id} (archived)" if b.archived else b.board_id for b in named],
        )
    return named[0] if named else None


def resolve_board_flow(id_or_name: str, create: bool = False) -> Flow[Board]:
    """The board with this id or name (archived ones included), created when asked."""
    boards = yield from list_boards_flow(include_archived=True)
    found = find_board(boards, id_or_name)
    if found is not None:
        return found
    if not create:
        raise BoardNotFoundError(id_or_name, [b.board_name for b in boards])
    log.info("creating board %r", id_or_name)
    return (yield from create_board_flow(id_or_name))


def get_or_create_flow(board_name: str) -> Flow[Board]:
    boards = yield from list_boards_flow(include_archived=True)
    named = [b for b in boards if b.board_name == board_name]
    if len(named) > 1:
        ids = ", ".join(b.board_id for b in named)
        raise ValidationError(f"{len(named)} boards are named {board_name!r} ({ids}); use a board id")
    if named:
        return named[0]
    return (yield from create_board_flow(board_name))


# --- repositories -----------------------------------------------------------------------


class BoardRepository:
    """`client.board_repo`: the server's boards."""

    def __init__(self, client: InvokeAIClient) -> None:
        self._client = client

    def list_boards(self, include_archived: bool = False) -> list[Board]:
        return self._client._run(list_boards_flow(include_archived))

    def get_board(self, board_id: str) -> Board:
        return self._client._run(get_board_flow(board_id))

    def create_board(self, board_name: str) -> Board:
        """Create a board (the server allows several boards with one name)."""
        return self._client._run(create_board_flow(board_name))

    def get_or_create_board(self, board_name: str) -> Board:
        return self._client._run(get_or_create_flow(board_name))

    def rename_board(self, board_id: str, board_name: str) -> Board:
        return self._client._run(update_board_flow(board_id, board_name=board_name))

    def archive_board(self, board_id: str) -> Board:
        return self._client._run(update_board_flow(board_id, archived=True))

    def unarchive_board(self, board_id: str) -> Board:
        return self._client._run(update_board_flow(board_id, archived=False))

    def delete_board(self, board_id: str, delete_images: bool = False) -> DeleteBoardResult:
        return self._client._run(delete_board_flow(board_id, delete_images))

    def resolve_board_id(self, id_or_name: str, create: bool = False) -> str:
        """The id of the board with this id or name; created when `create` and missing."""
        return self._client._run(resolve_board_flow(id_or_name, create)).board_id

    def get_board_handle(self, id_or_name: str, create: bool = False) -> BoardHandle:
        """A handle on the board with this id or name (``"none"``: uncategorized)."""
        return BoardHandle(self._client, self._client._run(resolve_board_flow(id_or_name, create)))

    def uncategorized(self) -> BoardHandle:
        """A handle on the images that are on no board."""
        return BoardHandle(self._client, UNCATEGORIZED_BOARD)


class AsyncBoardRepository:
    """`AsyncInvokeAIClient.board_repo`: the server's boards, non-blocking."""

    def __init__(self, client: AsyncInvokeAIClient) -> None:
        self._client = client

    async def list_boards(self, include_archived: bool = False) -> list[Board]:
        return await self._client._run(list_boards_flow(include_archived))

    async def get_board(self, board_id: str) -> Board:
        return await self._client._run(get_board_flow(board_id))

    async def create_board(self, board_name: str) -> Board:
        return await self._client._run(create_board_flow(board_name))

    async def get_or_create_board(self, board_name: str) -> Board:
        return await self._client._run(get_or_create_flow(board_name))

    async def rename_board(self, board_id: str, board_name: str) -> Board:
        return await self._client._run(update_board_flow(board_id, board_name=board_name))

    async def archive_board(self, board_id: str) -> Board:
        return await self._client._run(update_board_flow(board_id, archived=True))

    async def unarchive_board(self, board_id: str) -> Board:
        return await self._client._run(update_board_flow(board_id, archived=False))

    async def delete_board(self, board_id: str, delete_images: bool = False) -> DeleteBoardResult:
        return await self._client._run(delete_board_flow(board_id, delete_images))

    async def resolve_board_id(self, id_or_name: str, create: bool = False) -> str:
        return (await self._client._run(resolve_board_flow(id_or_name, create))).board_id

    async def get_board_handle(self, id_or_name: str, create: bool = False) -> AsyncBoardHandle:
        board = await self._client._run(resolve_board_flow(id_or_name, create))
        return AsyncBoardHandle(self._client, board)

    def uncategorized(self) -> AsyncBoardHandle:
        return AsyncBoardHandle(self._client, UNCATEGORIZED_BOARD)


# --- handles ------------------------------------------------------------------------------


class _HandleBase:
    def __init__(self, board: Board) -> None:
        self.board = board

    @property
    def board_id(self) -> str:
        return self.board.board_id

    @property
    def name(self) -> str:
        return self.board.board_name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.board_id!r}, name={self.name!r})"

    def _names_flow(
        self,
        offset: int,
        limit: int | None,
        order_dir: OrderDir,
        starred_first: bool,
        search_term: str | None,
        categories: Sequence[str] | None,
        is_intermediate: bool | None,
    ) -> Flow[list[str]]:
        result = yield from image_names_flow(
            board_id=self.board_id, categories=categories, is_intermediate=is_intermediate,
            order_dir=order_dir, starred_first=starred_first, search_term=search_term,
        )
        names = result.image_names
        return names[offset:] if limit is None else names[offset : offset + limit]


class BoardHandle(_HandleBase):
    """One board and its images. Downloads go straight to the image (no board listing)."""

    def __init__(self, client: InvokeAIClient, board: Board) -> None:
        super().__init__(board)
        self._client = client

    def refresh(self) -> Board:
        """Fetch the board record again (image count, name, archived)."""
        self.board = self._client._run(get_board_flow(self.board_id))
        return self.board

    def list_image_names(
        self,
        offset: int = 0,
        limit: int | None = None,
        *,
        order_dir: OrderDir = "DESC",
        starred_first: bool = False,
        search_term: str | None = None,
        categories: Sequence[str] | None = None,
        is_intermediate: bool | None = None,
    ) -> list[str]:
        """The board's image names, newest first, sliced to `offset`/`limit`."""
        return self._client._run(
            self._names_flow(offset, limit, order_dir, starred_first, search_term, categories, is_intermediate)
        )

    def list_images(
        self,
        offset: int = 0,
        limit: int = 100,
        *,
        order_dir: OrderDir = "DESC",
        starred_first: bool = False,
        search_term: str | None = None,
    ) -> ImagePage:
        """One page of the board's image records, paged by the server."""
        return self._client._run(
            list_images_flow(
                board_id=self.board_id, offset=offset, limit=limit, order_dir=order_dir,
                starred_first=starred_first, search_term=search_term,
            )
        )

    def upload_image(
        self, image: ImageSource, *, is_intermediate: bool = False, filename: str | None = None
    ) -> ImageDTO:
        """Upload a file path, encoded bytes or a PIL image onto this board."""
        return self._client._run(
            upload_flow(image, board_id=self.board_id, is_intermediate=is_intermediate, filename=filename)
        )

    def download_image(self, image_name: str, full_resolution: bool = True) -> bytes:
        """The image's bytes: full-resolution PNG, or the thumbnail."""
        return self._client._run(download_flow(image_name, full_resolution))

    def download_to(
        self, image_name: str, dest: str | os.PathLike[str], full_resolution: bool = True
    ) -> Path:
        """Stream the image to the file `dest` in chunks."""
        return self._client._run(download_to_flow(image_name, dest, full_resolution))

    def star_image(self, image_name: str) -> bool:
        return bool(self._client._run(star_flow([image_name], True)))

    def unstar_image(self, image_name: str) -> bool:
        return bool(self._client._run(star_flow([image_name], False)))

    def add_image(self, image_name: str) -> bool:
        """Put an existing image on this board (taking it off its current one)."""
        return bool(self._client._run(move_images_flow(self.board_id, [image_name])))

    def move_image(self, image_name: str, to: str | BoardHandle) -> bool:
        """Move an image to another board, given as a board id or a handle."""
        target = to.board_id if isinstance(to, BoardHandle) else to
        return bool(self._client._run(move_images_flow(target, [image_name])))

    def remove_image(self, image_name: str) -> bool:
        """Take an image off this board (it becomes uncategorized, it is not deleted)."""
        return bool(self._client._run(remove_from_board_flow([image_name])))

    def delete_image(self, image_name: str) -> DeleteImagesResult:
        return self._client._run(delete_image_flow(image_name))


class AsyncBoardHandle(_HandleBase):
    """The async twin of `BoardHandle`."""

    def __init__(self, client: AsyncInvokeAIClient, board: Board) -> None:
        super().__init__(board)
        self._client = client

    async def refresh(self) -> Board:
        self.board = await self._client._run(get_board_flow(self.board_id))
        return self.board

    async def list_image_names(
        self,
        offset: int = 0,
        limit: int | None = None,
        *,
        order_dir: OrderDir = "DESC",
        starred_first: bool = False,
        search_term: str | None = None,
        categories: Sequence[str] | None = None,
        is_intermediate: bool | None = None,
    ) -> list[str]:
        return await self._client._run(
            self._names_flow(offset, limit, order_dir, starred_first, search_term, categories, is_intermediate)
        )

    async def list_images(
        self,
        offset: int = 0,
        limit: int = 100,
        *,
        order_dir: OrderDir = "DESC",
        starred_first: bool = False,
        search_term: str | None = None,
    ) -> ImagePage:
        return await self._client._run(
            list_images_flow(
                board_id=self.board_id, offset=offset, limit=limit, order_dir=order_dir,
                starred_first=starred_first, search_term=search_term,
            )
        )

    async def upload_image(
        self, image: ImageSource, *, is_intermediate: bool = False, filename: str | None = None
    ) -> ImageDTO:
        return await self._client._run(
            upload_flow(image, board_id=self.board_id, is_intermediate=is_intermediate, filename=filename)
        )

    async def download_image(self, image_name: str, full_resolution: bool = True) -> bytes:
        return await self._client._run(download_flow(image_name, full_resolution))

    async def download_to(
        self, image_name: str, dest: str | os.PathLike[str], full_resolution: bool = True
    ) -> Path:
        return await self._client._run(download_to_flow(image_name, dest, full_resolution))

    async def star_image(self, image_name: str) -> bool:
        return bool(await self._client._run(star_flow([image_name], True)))

    async def unstar_image(self, image_name: str) -> bool:
        return bool(await self._client._run(star_flow([image_name], False)))

    async def add_image(self, image_name: str) -> bool:
        return bool(await self._client._run(move_images_flow(self.board_id, [image_name])))

    async def move_image(self, image_name: str, to: str | AsyncBoardHandle) -> bool:
        target = to.board_id if isinstance(to, AsyncBoardHandle) else to
        return bool(await self._client._run(move_images_flow(target, [image_name])))

    async def remove_image(self, image_name: str) -> bool:
        return bool(await self._client._run(remove_from_board_flow([image_name])))

    async def delete_image(self, image_name: str) -> DeleteImagesResult:
        return await self._client._run(delete_image_flow(image_name))
