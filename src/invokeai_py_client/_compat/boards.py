"""1.1.1's extra names on board repositories and handles (sync client)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._exceptions import InvokeAIError, NotFoundError

if TYPE_CHECKING:
    from ..boards import Board, BoardHandle
    from ..images import ImageDTO

__all__ = ["BoardHandleCompat", "BoardRepositoryCompat"]


class BoardRepositoryCompat:
    """`get_board_by_id`, `get_board_handle_by_name`, `get_uncategorized_handle`, ... as in 1.1.1.

    Lookups that 1.1.1 answered with None for "not there" still do; other failures raise.
    """

    _runner: Any

    def _repo(self) -> Any:
        return self

    def get_board_by_id(self, board_id: str) -> Board | None:
        try:
            board: Board = self._repo().get_board(board_id)
        except NotFoundError:
            return None
        return board

    def get_boards_by_name(self, name: str) -> list[Board]:
        return [b for b in self._repo().list_boards() if b.board_name == name]

    def get_board_handle_by_name(self, name: str) -> BoardHandle[Any] | None:
        named = self.get_boards_by_name(name)
        return self._repo().get_board_handle(named[0].board_id) if named else None

    def get_uncategorized_board(self) -> Board:
        board: Board = self._repo().uncategorized().board
        return board

    def get_uncategorized_handle(self) -> BoardHandle[Any]:
        handle: BoardHandle[Any] = self._repo().uncategorized()
        return handle

    def update_board(self, board_id: str, name: str | None = None, is_private: bool | None = None) -> Board:
        changes: dict[str, Any] = {}
        if name is not None:
            changes["board_name"] = name
        if is_private is not None:
            changes["is_private"] = is_private
        board: Board = self._repo()._update(board_id, changes)
        return board

    def clear_cache(self) -> None:
        """1.1.1 cached handles; ours keep no cache, so there is nothing to clear."""

    def get_image_by_name(self, image_name: str) -> ImageDTO | None:
        from ..images import ImageRepository

        try:
            image: ImageDTO = ImageRepository(self._runner).get_image(image_name)
        except NotFoundError:
            return None
        return image

    def get_image_current_board_id(self, image_name: str) -> str | None:
        image = self.get_image_by_name(image_name)
        return None if image is None else (image.board_id or "none")

    def move_image_to_board_by_name(self, image_name: str, target_board_name: str) -> bool:
        handle = self.get_board_handle_by_name(target_board_name)
        if handle is None:
            raise InvokeAIError(f"no board named {target_board_name!r}")
        return bool(handle.add_image(image_name))


class BoardHandleCompat:
    """`board_name`, `is_uncategorized`, `upload_image_data`, `move_image_to`, `get_image_count`, ..."""

    board: Board

    @property
    def board_name(self) -> str:
        return self.board.board_name

    @property
    def is_uncategorized(self) -> bool:
        return self.board.is_uncategorized()

    def upload_image_data(self, image_data: bytes, filename: str | None = None, **options: Any) -> ImageDTO:
        """Upload encoded image bytes onto this board (1.1.1's name for `upload_image(bytes)`)."""
        image: ImageDTO = self.upload_image(image_data, filename=filename, **_upload_options(options))  # type: ignore[attr-defined]
        return image

    def move_image_to(self, image_name: str, target_board_id: str) -> bool:
        return bool(self.move_image(image_name, target_board_id))  # type: ignore[attr-defined]

    def get_image_count(self) -> int:
        return len(self.list_image_names())  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        return self.board.to_dict()


def _upload_options(options: dict[str, Any]) -> dict[str, Any]:
    """1.1.1's upload keywords that ours takes (image_category and session_id are the server's choice)."""
    return {k: v for k, v in options.items() if k == "is_intermediate"}
