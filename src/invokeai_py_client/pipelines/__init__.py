"""Multi-stage pipelines built on workflow handles."""

from .refine import MultiStageRefiner, StageBoards, StageModels

__all__ = ["MultiStageRefiner", "StageBoards", "StageModels"]
