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
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from ._compat.boards import BoardHandleCompat, BoardRepositoryCompat
from ._exceptions import InvokeAIError, ValidationError
from ._flow import AsyncRunner, Exclusive, Flow, Runner, call
from ._models import OrderDir, ServerModel
from ._resource import Resource, operation
from ._transport import segment
from .images import (
    UNCATEGORIZED,
    ImageDTO,
    ImageFiles,
    ImageSource,
    image_names_flow,
    list_images_flow,
    move_to_board_flow,
    star_flow,
    upload_flow,
)

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


def _board(board_id: str) -> str:
    return f"{BOARDS}/{segment(board_id, 'board id')}"


def list_boards_flow(include_archived: bool = False) -> Flow[list[Board]]:
    return call(list[Board], "GET", f"{BOARDS}/", params={"all": True, "include_archived": include_archived})


def get_board_flow(board_id: str) -> Flow[Board]:
    if board_id == UNCATEGORIZED:
        return UNCATEGORIZED_BOARD
    return (yield from call(Board, "GET", _board(board_id)))


def create_board_flow(board_name: str, is_private: bool | None = None) -> Flow[Board]:
    if not board_name.strip():
        raise ValidationError("a board name must not be empty")
    params: dict[str, Any] = {"board_name": board_name}
    if is_private is not None:
        params["is_private"] = is_private
    return (yield from call(Board, "POST", f"{BOARDS}/", params=params, retry=False))


def update_board_flow(board_id: str, **changes: Any) -> Flow[Board]:
    return call(Board, "PATCH", _board(board_id), json=changes, retry=True)


def find_board(boards: Sequence[Board], id_or_name: str, *, by_id: bool = True) -> Board | None:
    """The board with this id (when `by_id`), else the one board with this name (pure).

    Raises ValidationError when several boards carry the name.
    """
    if id_or_name == UNCATEGORIZED:
        return UNCATEGORIZED_BOARD
    for board in boards if by_id else ():
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


def _find_or_create(id_or_name: str, create: bool, by_id: bool) -> Flow[Board]:
    boards = yield from list_boards_flow(include_archived=True)
    found = find_board(boards, id_or_name, by_id=by_id)
    if found is not None:
        return found
    if not create:
        raise BoardNotFoundError(id_or_name, [b.board_name for b in boards])
    log.info("creating board %r", id_or_name)
    return (yield from create_board_flow(id_or_name))


def resolve_board_flow(id_or_name: str, create: bool = False, *, by_id: bool = True) -> Flow[Board]:
    """The board with this id or name (archived ones included), created when asked.

    Lookup and creation hold the client's board lock, so concurrent submissions
    naming a missing board create it once.
    """
    if not create:
        return (yield from _find_or_create(id_or_name, False, by_id))
    board: Board = yield Exclusive("boards", _find_or_create(id_or_name, True, by_id))
    return board


# --- the repository -----------------------------------------------------------------------


class BoardRepository(BoardRepositoryCompat, Resource[Runner]):
    """`client.board_repo`: the server's boards."""

    @operation
    def list_boards(
        self, include_archived: bool = False, *, include_uncategorized: bool = False, all: bool = True  # noqa: A002
    ) -> Flow[list[Board]]:
        """Every board (never paged: 1.1.1's `all` is accepted and always true).

        With `include_uncategorized`, the uncategorized board (id ``"none"``) comes first.
        """
        boards: list[Board] = yield from list_boards_flow(include_archived)
        return [UNCATEGORIZED_BOARD, *boards] if include_uncategorized else boards

    @operation
    def get_board(self, board_id: str) -> Flow[Board]:
        return get_board_flow(board_id)

    @operation
    def create_board(self, name: str, is_private: bool | None = None) -> Flow[BoardHandle[Runner]]:
        """Create a board named `name` (the server allows several boards with one name); a handle on it."""
        return BoardHandle(self._runner, (yield from create_board_flow(name, is_private)))

    @operation
    def _update(self, board_id: str, changes: dict[str, Any]) -> Flow[Board]:
        return update_board_flow(board_id, **changes)

    @operation
    def get_or_create_board(self, board_name: str) -> Flow[Board]:
        """The one board named so, created if there is none (once, however many callers race)."""
        return resolve_board_flow(board_name, create=True, by_id=False)

    @operation
    def rename_board(self, board_id: str, board_name: str) -> Flow[Board]:
        return update_board_flow(board_id, board_name=board_name)

    @operation
    def archive_board(self, board_id: str) -> Flow[Board]:
        return update_board_flow(board_id, archived=True)

    @operation
    def unarchive_board(self, board_id: str) -> Flow[Board]:
        return update_board_flow(board_id, archived=False)

    @operation
    def delete_board(self, board_id: str, delete_images: bool = False) -> Flow[DeleteBoardResult]:
        """Delete a board; its images too with `delete_images`, else they become uncategorized."""
        if board_id == UNCATEGORIZED:
            raise ValidationError("the uncategorized board cannot be deleted")
        return (
            yield from call(
                DeleteBoardResult, "DELETE", _board(board_id), params={"include_images": delete_images}
            )
        )

    @operation
    def resolve_board_id(self, id_or_name: str, create: bool = False) -> Flow[str]:
        """The id of the board with this id or name; created when `create` and missing."""
        return (yield from resolve_board_flow(id_or_name, create)).board_id

    @operation
    def get_board_handle(self, id_or_name: str, create: bool = False) -> Flow[BoardHandle[Runner]]:
        """A handle on the board with this id or name (``"none"``: uncategorized)."""
        board = yield from resolve_board_flow(id_or_name, create)
        return BoardHandle(self._runner, board)

    def uncategorized(self) -> BoardHandle[Runner]:
        """A handle on the images that are on no board."""
        return BoardHandle(self._runner, UNCATEGORIZED_BOARD)


# --- handles ------------------------------------------------------------------------------


class BoardHandle(BoardHandleCompat, ImageFiles[Runner]):
    """One board and its images. Downloads go straight to the image (no board listing).

    It reads like its board record too (``handle.image_count``, ``handle.board_name``).
    """

    def __init__(self, runner: Runner, board: Board) -> None:
        self._runner = runner
        self.board = board

    @property
    def board_id(self) -> str:
        return self.board.board_id

    @property
    def name(self) -> str:
        return self.board.board_name

    def __repr__(self) -> str:
        return f"BoardHandle({self.board_id!r}, name={self.name!r})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "board":
            raise AttributeError(name)
        return getattr(self.board, name)

    @operation
    def refresh(self) -> Flow[Board]:
        """Fetch the board record again (image count, name, archived)."""
        self.board = yield from get_board_flow(self.board_id)
        return self.board

    @operation
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
    ) -> Flow[list[str]]:
        """The board's image names, newest first, sliced to `offset`/`limit`."""
        result = yield from image_names_flow(
            board_id=self.board_id, categories=categories, is_intermediate=is_intermediate,
            order_dir=order_dir, starred_first=starred_first, search_term=search_term,
        )
        names = result.image_names
        return names[offset:] if limit is None else names[offset : offset + limit]

    @operation
    def list_images(
        self,
        offset: int = 0,
        limit: int = 100,
        order_by: str = "created_at",
        order_dir: OrderDir = "DESC",
        starred_first: bool = False,
        search_term: str | None = None,
    ) -> Flow[list[str]]:
        """One page of the board's image names, newest first (1.1.1's call; the records
        are `client.image_repo.list_images(board_id=...)`)."""
        if order_by != "created_at":
            raise ValidationError(f"images are listed by creation time only, not by {order_by!r}")
        page = yield from list_images_flow(
            board_id=self.board_id, offset=offset, limit=limit, order_dir=order_dir,
            starred_first=starred_first, search_term=search_term,
        )
        return [image.image_name for image in page.items]

    @operation
    def upload_image(
        self, image: ImageSource, *, is_intermediate: bool = False, filename: str | None = None
    ) -> Flow[ImageDTO]:
        """Upload a file path, encoded bytes or a PIL image onto this board."""
        return upload_flow(image, board_id=self.board_id, is_intermediate=is_intermediate, filename=filename)

    @operation
    def star_image(self, image_name: str) -> Flow[bool]:
        return bool((yield from star_flow([image_name], True)))

    @operation
    def unstar_image(self, image_name: str) -> Flow[bool]:
        return bool((yield from star_flow([image_name], False)))

    @operation
    def add_image(self, image_name: str) -> Flow[bool]:
        """Put an existing image on this board (taking it off its current one)."""
        return bool((yield from move_to_board_flow(self.board_id, [image_name])))

    @operation
    def move_image(self, image_name: str, to: str | BoardHandle[Any]) -> Flow[bool]:
        """Move an image to another board, given as a board id or a handle."""
        target = to.board_id if isinstance(to, BoardHandle) else to
        return bool((yield from move_to_board_flow(target, [image_name])))

    @operation
    def remove_image(self, image_name: str) -> Flow[bool]:
        """Take an image off this board (it becomes uncategorized, it is not deleted)."""
        return bool((yield from move_to_board_flow(UNCATEGORIZED, [image_name])))


AsyncBoardRepository = BoardRepository[AsyncRunner]
"""`AsyncInvokeAIClient.board_repo`: the same methods, as coroutines."""
AsyncBoardHandle = BoardHandle[AsyncRunner]
"""A board handle of the async client: the same methods, as coroutines."""
