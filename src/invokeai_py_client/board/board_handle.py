"""1.1.1's `BoardHandle`: ours, under its import path."""

from ..boards import Board, BoardHandle
from ..models import ImageCategory, IvkImage

__all__ = ["Board", "BoardHandle", "ImageCategory", "IvkImage"]
