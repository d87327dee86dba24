"""invokeai-py-client 1.1.1's `QuickClient`, at its import path (a compatibility surface)."""

from .quick_client import QuickClient

__all__ = ["QuickClient"]
