"""Installed models: records, lookups, installs with job handles, scanning, the model cache.

Model records tolerate newer servers: `base`, `type` and `format` are open string
enums (`BaseModelType`, `ModelType`, `ModelFormat`: they compare equal to the
server's strings, and values this client has never seen are kept as members made on
the spot, never rejected), and every field the server adds is kept too.

    >>> repo = client.dnn_model_repo                                    # doctest: +SKIP
    >>> [m.name for m in repo.list_models(base="sdxl", type="main")]    # doctest: +SKIP
    >>> job = repo.install_model("/models/x2.safetensors")              # doctest: +SKIP
    >>> record = job.wait(timeout=60)                                   # doctest: +SKIP
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator

from ._capabilities import server_schema
from ._compat.models import ModelInstallJobCompat, ModelRecordCompat, ModelRepositoryCompat
from ._exceptions import ConflictError, InternalServerError, InvokeAIError, NotFoundError
from ._flow import AsyncRunner, Call, Flow, Pause, Runner, backoff, call
from ._models import ServerModel
from ._resource import Resource, operation
from ._transport import segment

__all__ = [
    "KNOWN_BASES",
    "KNOWN_TYPES",
    "AsyncModelInstallJob",
    "AsyncModelRepository",
    "BaseModelType",
    "CacheStats",
    "FoundModel",
    "ModelAlreadyInstalledError",
    "ModelFormat",
    "ModelInstallError",
    "ModelInstallJob",
    "ModelInstallStatus",
    "ModelInstallTimeoutError",
    "ModelRecord",
    "ModelRepository",
    "ModelType",
    "identifier",
]

log = logging.getLogger("invokeai_py_client.model_manager")

MODELS = "/api/v2/models"

KNOWN_BASES = frozenset({
    "any", "sd-1", "sd-2", "sd-3", "sdxl", "sdxl-refiner", "flux", "flux2", "cogview4", "z-image",
    "ernie-image", "ideogram-4", "external", "qwen-image", "anima", "krea-2", "wan", "unknown",
})
"""Bases a 6.14.2 server knows; newer servers send others, which are kept as they are."""
KNOWN_TYPES = frozenset({
    "onnx", "main", "vae", "lora", "control_lora", "controlnet", "embedding", "ip_adapter",
    "clip_vision", "clip_embed", "t2i_adapter", "t5_encoder", "qwen3_encoder", "qwen_vl_encoder",
    "qwen3_vl_encoder", "mistral_encoder", "wan_t5_encoder", "gemma2_encoder",
    "spandrel_image_to_image", "siglip", "flux_redux", "llava_onevision", "prompt_enhancer",
    "text_llm", "external_image_generator", "pid_decoder", "unknown",
})
"""Model types a 6.14.2 server knows; others are kept as they are."""

TERMINAL_INSTALL_STATUSES = frozenset({"completed", "error", "cancelled"})
DUPLICATE_ERRORS = frozenset({"DuplicateModelException"})


class _OpenEnum(enum.StrEnum):
    """A server-controlled enum: an unknown value becomes a member of its own, never an error."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member


class BaseModelType(_OpenEnum):
    """A model's base (`sdxl`, `flux`, ...); member names as invokeai-py-client 1.1.1 had them."""

    Any = "any"
    StableDiffusion1 = "sd-1"
    StableDiffusion2 = "sd-2"
    StableDiffusion3 = "sd-3"
    StableDiffusionXL = "sdxl"
    StableDiffusionXLRefiner = "sdxl-refiner"
    Flux = "flux"
    Flux2 = "flux2"
    CogView4 = "cogview4"
    Imagen3 = "imagen3"
    Imagen4 = "imagen4"
    ChatGPT4o = "chatgpt-4o"
    FluxKontext = "flux-kontext"
    ZImage = "z-image"
    Unknown = "unknown"


class ModelType(_OpenEnum):
    """A model's type (`main`, `vae`, `lora`, ...)."""

    ONNX = "onnx"
    Main = "main"
    VAE = "vae"
    LoRA = "lora"
    ControlLoRa = "control_lora"
    ControlNet = "controlnet"
    TextualInversion = "embedding"
    IPAdapter = "ip_adapter"
    CLIPVision = "clip_vision"
    CLIPEmbed = "clip_embed"
    T2IAdapter = "t2i_adapter"
    T5Encoder = "t5_encoder"
    SpandrelImageToImage = "spandrel_image_to_image"
    SigLIP = "siglip"
    FluxRedux = "flux_redux"
    LlavaOnevision = "llava_onevision"
    Unknown = "unknown"


class ModelFormat(_OpenEnum):
    """How a model is stored (`diffusers`, `checkpoint`, ...)."""

    OMI = "omi"
    Diffusers = "diffusers"
    Checkpoint = "checkpoint"
    LyCORIS = "lycoris"
    ONNX = "onnx"
    Olive = "olive"
    EmbeddingFile = "embedding_file"
    EmbeddingFolder = "embedding_folder"
    InvokeAI = "invokeai"
    T5Encoder = "t5_encoder"
    BnbQuantizedLlmInt8b = "bnb_quantized_int8b"
    BnbQuantizednf4b = "bnb_quantized_nf4b"
    GGUFQuantized = "gguf_quantized"
    Api = "api"


class ModelRecord(ModelRecordCompat, ServerModel):
    """An installed model's configuration (`GET /api/v2/models/i/{key}`)."""

    key: str
    name: str
    base: BaseModelType
    type: ModelType
    hash: str | None = None
    format: ModelFormat | None = None
    path: str | None = None
    description: str | None = None
    source: str | None = None
    source_type: str | None = None
    file_size: int | None = None
    variant: str | None = None


def identifier(record: Mapping[str, Any] | ServerModel, submodel_type: str | None = None) -> dict[str, Any]:
    """The `{key, hash, name, base, type}` identifier a graph's model field takes."""
    ident = {k: record.get(k) for k in ("key", "hash", "name", "base", "type")}
    if submodel_type is not None:
        ident["submodel_type"] = submodel_type
    return ident


class FoundModel(ServerModel):
    """A model file or folder found by a folder scan."""

    path: str
    is_installed: bool = False


class CacheStats(ServerModel):
    """The model cache's counters (`GET /api/v2/models/stats`); sizes in bytes."""

    hits: int = 0
    misses: int = 0
    high_watermark: int = 0
    in_cache: int = 0
    cleared: int = 0
    cache_size: int | None = None
    """The cache's RAM budget; None where the server does not report it (6.0 and 5.x send 0)."""
    loaded_model_sizes: dict[str, int] = Field(default_factory=dict)

    @field_validator("cache_size", mode="before")
    @classmethod
    def _unreported_size(cls, value: Any) -> Any:
        return None if value == 0 else value


class ModelInstallStatus(ServerModel):
    """An install job as the server reports it (`GET /api/v2/models/install/{id}`).

    `status` is one of waiting, downloading, downloads_done, running, paused,
    completed, error, cancelled (kept as a string).
    """

    id: int
    status: str = "waiting"
    source: Any = None
    local_path: str | None = None
    inplace: bool = False
    bytes: int = 0
    total_bytes: int = 0
    error_reason: str | None = None
    error: str | None = None
    error_traceback: str | None = None
    config_out: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_INSTALL_STATUSES

    @property
    def progress(self) -> float:
        """Fraction done (0..1): downloaded bytes, or 1.0 once completed."""
        if self.status == "completed":
            return 1.0
        return self.bytes / self.total_bytes if self.total_bytes else 0.0


class ModelInstallError(InvokeAIError):
    """A model install failed; `job` is the install job with the server's reason."""

    def __init__(self, message: str, job: ModelInstallStatus | None) -> None:
        super().__init__(message)
        self.job = job

    @property
    def reason(self) -> str | None:
        return None if self.job is None else (self.job.error or self.job.error_reason)


class ModelAlreadyInstalledError(ModelInstallError):
    """The model (same path, or same name, base and type) is already installed."""


class ModelInstallTimeoutError(ModelInstallError):
    """Waiting for an install took longer than the timeout; the install may still finish."""


def _install_error(job: ModelInstallStatus) -> ModelInstallError:
    source = job.source if isinstance(job.source, str) else (job.source or {}).get("path", job.source)
    message = f"install of {source} ({job.id}) {job.status}: {job.error_reason}: {job.error}"
    if job.error_reason in DUPLICATE_ERRORS:
        return ModelAlreadyInstalledError(message, job)
    return ModelInstallError(message, job)


# --- flows ------------------------------------------------------------------------------


def _model(key: str) -> str:
    return f"{MODELS}/i/{segment(key, 'model key')}"


def _install_job(job_id: int) -> str:
    return f"{MODELS}/install/{int(job_id)}"


def list_models_flow(
    base: str | Sequence[str] | None = None,
    type: str | None = None,  # noqa: A002 - the server's name
    name: str | None = None,
    format: str | None = None,  # noqa: A002 - the server's name
) -> Flow[list[ModelRecord]]:
    bases = [base] if isinstance(base, str) else (list(base) if base else None)
    params = {"base_models": bases, "model_type": type, "model_name": name, "model_format": format}
    answer = yield from call(_ModelList, "GET", f"{MODELS}/", params=params)
    return answer.models


class _ModelList(ServerModel):
    models: list[ModelRecord] = Field(default_factory=list)


def wait_install_flow(
    job_id: int,
    timeout: float | None,
    on_progress: Callable[[ModelInstallStatus], None] | None = None,
) -> Flow[ModelRecord]:
    """Poll an install until it ends; answers the installed record or raises why not."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last: tuple[str, int] | None = None
    for delay in backoff(first=0.05, cap=1.0):
        job = yield from call(ModelInstallStatus, "GET", _install_job(job_id))
        if on_progress is not None and (job.status, job.bytes) != last:
            on_progress(job)
        last = (job.status, job.bytes)
        if job.status == "completed":
            if job.config_out is None:
                raise ModelInstallError(f"install {job_id} completed without a model record", job)
            return ModelRecord.model_validate(job.config_out)
        if job.is_terminal:
            raise _install_error(job)
        if deadline is not None and time.monotonic() + delay > deadline:
            raise ModelInstallTimeoutError(f"install {job_id} still {job.status} after {timeout}s", job)
        yield Pause(delay)
    raise AssertionError("unreachable")


def _checked_delete(path: str, gone: Callable[[], Flow[bool]]) -> Flow[None]:
    """DELETE `path`, where 6.14.2 answers 500 AFTER doing the deletion.

    Its compression middleware fails to send an empty 204 when the request accepts
    gzip (httpx always does); `gone` looks at the effect to tell the two apart.
    """
    try:
        yield Call("DELETE", path, expect="none")
    except InternalServerError:
        if not (yield from gone()):
            raise
        log.debug("DELETE %s done (the server answered 500 after doing it)", path)


# --- install jobs --------------------------------------------------------------------------


class ModelInstallJob(ModelInstallJobCompat, Resource[Runner]):
    """A model install running on the server: status, progress, wait, cancel."""

    def __init__(self, runner: Runner, status: ModelInstallStatus) -> None:
        self._runner = runner
        self.last = status

    @property
    def id(self) -> int:
        return self.last.id

    @property
    def status(self) -> str:
        """The status last seen (call `refresh()` to ask the server again)."""
        return self.last.status

    @property
    def progress(self) -> float:
        return self.last.progress

    def __repr__(self) -> str:
        return f"ModelInstallJob(id={self.id}, status={self.status!r})"

    @operation
    def refresh(self) -> Flow[ModelInstallStatus]:
        self.last = yield from call(ModelInstallStatus, "GET", _install_job(self.id))
        return self.last

    @operation
    def wait(
        self,
        timeout: float | None = 300.0,
        on_progress: Callable[[ModelInstallStatus], None] | None = None,
    ) -> Flow[ModelRecord]:
        """Wait for the install to end; answers the installed model's record.

        Raises:
            ModelAlreadyInstalledError: the server found the model already installed.
            ModelInstallError: the install failed or was cancelled (`reason` says why).
            ModelInstallTimeoutError: still running after `timeout` seconds.
        """

        def seen(status: ModelInstallStatus) -> None:
            self.last = status
            if on_progress is not None:
                on_progress(status)

        return wait_install_flow(self.id, timeout, seen)

    @operation
    def cancel(self) -> Flow[None]:
        yield Call("DELETE", _install_job(self.id), expect="none")


AsyncModelInstallJob = ModelInstallJob[AsyncRunner]
"""A model install of the async client: the same methods, as coroutines."""


# --- the repository --------------------------------------------------------------------------


class ModelRepository(ModelRepositoryCompat, Resource[Runner]):
    """`client.dnn_model_repo`: installed models and installs."""

    @operation
    def list_models(
        self,
        base: str | Sequence[str] | None = None,
        type: str | None = None,  # noqa: A002 - the server's name
        name: str | None = None,
        format: str | None = None,  # noqa: A002 - the server's name
    ) -> Flow[list[ModelRecord]]:
        """Installed models, filtered by base(s), type, exact name and format."""
        return list_models_flow(base, type, name, format)

    @operation
    def get_model(self, key: str) -> Flow[ModelRecord]:
        return call(ModelRecord, "GET", _model(key))

    @operation
    def get_model_by_hash(self, hash_: str) -> Flow[ModelRecord]:
        """The installed model with this hash (`UnsupportedByServerError` before 6.12)."""
        schema = yield server_schema()
        schema.require("GET", f"{MODELS}/get_by_hash", "looking a model up by hash")
        return (yield from call(ModelRecord, "GET", f"{MODELS}/get_by_hash", params={"hash": hash_}))

    @operation
    def get_model_by_attrs(self, name: str, type_: str, base: str) -> Flow[ModelRecord]:
        params = {"name": name, "type": type_, "base": base}
        return call(ModelRecord, "GET", f"{MODELS}/get_by_attrs", params=params)

    @operation
    def install_model(
        self,
        source: str | os.PathLike[str],
        *,
        inplace: bool = True,
        config: Mapping[str, Any] | None = None,
        access_token: str | None = None,
    ) -> Flow[ModelInstallJob[Runner]]:
        """Start installing a local path, URL or HF repo id; `job.wait()` for the result.

        `inplace=True` (the default here, unlike the server's) registers a local model
        where it is; with False InvokeAI MOVES the files into its models folder.
        """
        params = {"source": os.fspath(source), "inplace": inplace, "access_token": access_token}
        try:
            status = yield from call(
                ModelInstallStatus, "POST", f"{MODELS}/install", params=params, json=dict(config or {}), retry=False
            )
        except ConflictError as exc:
            # 409 covers both "already installed" and any source the server cannot use
            # (e.g. a path that does not exist: "Unsupported model source").
            cls = ModelAlreadyInstalledError if "already" in str(exc.detail) else ModelInstallError
            raise cls(f"install of {os.fspath(source)} refused: {exc.detail}", None) from exc
        return ModelInstallJob(self._runner, status)

    @operation
    def get_install_job(self, job_id: int) -> Flow[ModelInstallJob[Runner]]:
        status = yield from call(ModelInstallStatus, "GET", _install_job(job_id))
        return ModelInstallJob(self._runner, status)

    @operation
    def list_install_jobs(self) -> Flow[list[ModelInstallStatus]]:
        return call(list[ModelInstallStatus], "GET", f"{MODELS}/install")

    @operation
    def prune_install_jobs(self) -> Flow[None]:
        """Forget finished install jobs."""

        def gone() -> Flow[bool]:
            jobs = yield from call(list[ModelInstallStatus], "GET", f"{MODELS}/install")
            return not any(job.is_terminal for job in jobs)

        return _checked_delete(f"{MODELS}/install", gone)

    @operation
    def scan_folder(self, path: str | os.PathLike[str]) -> Flow[list[FoundModel]]:
        """Models found in a folder on the server's machine, with whether each is installed."""
        return call(list[FoundModel], "GET", f"{MODELS}/scan_folder", params={"scan_path": os.fspath(path)})

    @operation
    def delete_model(self, key: str) -> Flow[bool]:
        """Delete a model's record (True once it is gone); its files too when they are inside
        InvokeAI's models folder."""

        def gone() -> Flow[bool]:
            try:
                yield Call("GET", _model(key))
            except NotFoundError:
                return True
            return False

        yield from _checked_delete(_model(key), gone)
        return True

    @operation
    def convert_model(self, key: str) -> Flow[ModelRecord]:
        """Convert a main checkpoint to diffusers (its key and hash change)."""
        return call(ModelRecord, "PUT", f"{MODELS}/convert/{segment(key, 'model key')}", retry=False, timeout=600)

    @operation
    def get_cache_stats(self) -> Flow[CacheStats | None]:
        """Model cache counters (None before any model was loaded)."""
        answer = yield from call(object, "GET", f"{MODELS}/stats")
        return None if answer is None else CacheStats.model_validate(answer)

    @operation
    def empty_model_cache(self) -> Flow[None]:
        yield Call("POST", f"{MODELS}/empty_model_cache", expect="none", retry=True)


AsyncModelRepository = ModelRepository[AsyncRunner]
"""`AsyncInvokeAIClient.dnn_model_repo`: the same methods, as coroutines."""
