"""1.1.1's `Board` record: ours, under its import path."""

from ..boards import Board

__all__ = ["Board"]
