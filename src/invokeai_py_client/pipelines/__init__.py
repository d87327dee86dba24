"""Multi-stage pipelines built on workflow handles and the bundled stage workflows.

    >>> from invokeai_py_client.pipelines import MultiStageRefiner   # doctest: +SKIP
"""

from .detail import DetailEnhancer, FaceRefiner
from .parallel import EfficientRefiner, ParallelRefiner
from .progressive import ProgressiveRefiner
from .refine import MultiStageRefiner, StageBoards, StageJob, StageModels

__all__ = [
    "DetailEnhancer",
    "EfficientRefiner",
    "FaceRefiner",
    "MultiStageRefiner",
    "ParallelRefiner",
    "ProgressiveRefiner",
    "StageBoards",
    "StageJob",
    "StageModels",
]
