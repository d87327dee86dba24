"""Multi-stage pipelines built from stages (one workflow each) and a scheduler.

    >>> from invokeai_py_client.pipelines import MultiStageRefiner   # doctest: +SKIP

Every class has an async twin taking an `AsyncInvokeAIClient` (`AsyncMultiStageRefiner`,
...): the same methods, awaited. `ServerPool` spreads a run over several servers.
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
from .pool import AsyncServerPool, PoolResult, PoolRun, PoolServer, ServerPool
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
    "AsyncServerPool",
    "DetailEnhancer",
    "EfficientRefiner",
    "FaceRefiner",
    "FaceResult",
    "MultiStageRefiner",
    "Next",
    "ParallelRefiner",
    "PipelineOptions",
    "PipelineResult",
    "PoolResult",
    "PoolRun",
    "PoolServer",
    "PortraitResult",
    "ProgressiveRefiner",
    "ServerPool",
    "Stage",
    "StageBoards",
    "StageJob",
    "StageModels",
    "StageOutcome",
    "StageResult",
    "StreamResult",
    "run_chains",
]
