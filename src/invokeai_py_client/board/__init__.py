"""invokeai-py-client 1.1.1's board names, at its import path (a compatibility surface).

The classes are ours (`invokeai_py_client.boards`); see docs/migrating-from-1.1.md.
"""

from .board_handle import BoardHandle
from .board_model import Board
from .board_repo import BoardRepository

__all__ = ["Board", "BoardHandle", "BoardRepository"]
