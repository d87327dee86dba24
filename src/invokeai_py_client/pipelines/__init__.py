"""Multi-stage pipelines built from stages (one workflow each) and a scheduler.

    >>> from invokeai_py_client.pipelines import MultiStageRefiner   # doctest: +SKIP

Every class has an async twin taking an `AsyncInvokeAIClient` (`AsyncMultiStageRefiner`,
...): the same methods, awaited.
"""

from .detail import (
    AsyncDetailEnhancer,
    AsyncFaceRefiner,
    DetailEnhancer,
    FaceRefiner,
    FaceResult,
    PortraitResult,
)
from .parallel import (
    AsyncEfficientRefiner,
    AsyncParallelRefiner,
    EfficientRefiner,
    ParallelRefiner,
    StreamResult,
)
from .progressive import AdaptivePass, AsyncProgressiveRefiner, ProgressiveRefiner
from .refine import (
    AsyncMultiStageRefiner,
    MultiStageRefiner,
    PipelineOptions,
    PipelineResult,
    StageBoards,
    StageModels,
)
from .scheduler import Next, StageOutcome, run_chains
from .stage import Stage, StageJob, StageResult

__all__ = [
    "AdaptivePass",
    "AsyncDetailEnhancer",
    "AsyncEfficientRefiner",
    "AsyncFaceRefiner",
    "AsyncMultiStageRefiner",
    "AsyncParallelRefiner",
    "AsyncProgressiveRefiner",
    "DetailEnhancer",
    "EfficientRefiner",
    "FaceRefiner",
    "FaceResult",
    "MultiStageRefiner",
    "Next",
    "ParallelRefiner",
    "PipelineOptions",
    "PipelineResult",
    "PortraitResult",
    "ProgressiveRefiner",
    "Stage",
    "StageBoards",
    "StageJob",
    "StageModels",
    "StageOutcome",
    "StageResult",
    "StreamResult",
    "run_chains",
]
