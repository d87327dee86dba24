"""1.1.1's `BoardRepository`: ours (`client.board_repo`), under its import path."""

from ..boards import Board, BoardHandle, BoardRepository
from ..models import IvkImage

__all__ = ["Board", "BoardHandle", "BoardRepository", "IvkImage"]
