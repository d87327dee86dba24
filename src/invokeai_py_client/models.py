"""Installed models: records, lookups, installs with job handles, scanning, the model cache.

Model records tolerate newer servers: `base`, `type` and `format` are plain strings
(values this client has never seen are kept, never rejected), and every field the
server adds is kept too.

    >>> repo = client.dnn_model_repo                                    # doctest: +SKIP
    >>> [m.name for m in repo.list_models(base="sdxl", type="main")]    # doctest: +SKIP
    >>> job = repo.install_model("/models/x2.safetensors")              # doctest: +SKIP
    >>> record = job.wait(timeout=60)                                   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ._exceptions import ConflictError, InternalServerError, InvokeAIError, NotFoundError
from ._flow import Call, Flow, Pause, backoff
from .queue_models import ServerModel

if TYPE_CHECKING:
    from .client import AsyncInvokeAIClient, InvokeAIClient

__all__ = [
    "KNOWN_BASES",
    "KNOWN_TYPES",
    "AsyncModelInstallJob",
    "AsyncModelRepository",
    "CacheStats",
    "FoundModel",
    "ModelAlreadyInstalledError",
    "ModelInstallError",
    "ModelInstallJob",
    "ModelInstallStatus",
    "ModelInstallTimeoutError",
    "ModelRecord",
    "ModelRepository",
    "identifier",
]

log = logging.getLogger("invokeai_py_client.models")

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


class ModelRecord(ServerModel):
    """An installed model's configuration (`GET /api/v2/models/i/{key}`)."""

    key: str
    name: str
    base: str
    type: str
    hash: str | None = None
    format: str | None = None
    path: str | None = None
    description: str | None = None
    source: str | None = None
    source_type: str | None = None
    file_size: int | None = None
    variant: str | None = None


def identifier(record: Mapping[str, Any], submodel_type: str | None = None) -> dict[str, Any]:
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
    cache_size: int = 0
    loaded_model_sizes: dict[str, int] = Field(default_factory=dict)


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


def list_models_flow(
    base: str | Sequence[str] | None = None,
    type: str | None = None,  # noqa: A002 - the server's name
    name: str | None = None,
    format: str | None = None,  # noqa: A002 - the server's name
) -> Flow[list[ModelRecord]]:
    bases = [base] if isinstance(base, str) else (list(base) if base else None)
    params = {"base_models": bases, "model_type": type, "model_name": name, "model_format": format}
    answer = yield Call("GET", f"{MODELS}/", params=params)
    return [ModelRecord.model_validate(raw) for raw in (answer or {}).get("models", [])]


def get_model_flow(key: str) -> Flow[ModelRecord]:
    answer = yield Call("GET", f"{MODELS}/i/{key}")
    return ModelRecord.model_validate(answer)


def get_by_hash_flow(hash_: str) -> Flow[ModelRecord]:
    answer = yield Call("GET", f"{MODELS}/get_by_hash", params={"hash": hash_})
    return ModelRecord.model_validate(answer)


def get_by_attrs_flow(name: str, type_: str, base: str) -> Flow[ModelRecord]:
    answer = yield Call("GET", f"{MODELS}/get_by_attrs", params={"name": name, "type": type_, "base": base})
    return ModelRecord.model_validate(answer)


def install_flow(
    source: str | os.PathLike[str],
    inplace: bool = True,
    config: Mapping[str, Any] | None = None,
    access_token: str | None = None,
) -> Flow[ModelInstallStatus]:
    """Start an install of a local path, a URL or a Hugging Face repo id.

    `inplace=True` (the default here, unlike the server's) registers a local model
    where it is; with False InvokeAI MOVES the files into its models folder.
    """
    params = {"source": os.fspath(source), "inplace": inplace, "access_token": access_token}
    try:
        answer = yield Call("POST", f"{MODELS}/install", params=params, json=dict(config or {}), retry=False)
    except ConflictError as exc:
        # 409 covers both "already installed" and any source the server cannot use
        # (e.g. a path that does not exist: "Unsupported model source").
        cls = ModelAlreadyInstalledError if "already" in str(exc.detail) else ModelInstallError
        raise cls(f"install of {os.fspath(source)} refused: {exc.detail}", None) from exc
    return ModelInstallStatus.model_validate(answer)


def install_job_flow(job_id: int) -> Flow[ModelInstallStatus]:
    answer = yield Call("GET", f"{MODELS}/install/{job_id}")
    return ModelInstallStatus.model_validate(answer)


def list_install_jobs_flow() -> Flow[list[ModelInstallStatus]]:
    answer = yield Call("GET", f"{MODELS}/install")
    return [ModelInstallStatus.model_validate(raw) for raw in answer or []]


def cancel_install_flow(job_id: int) -> Flow[None]:
    yield Call("DELETE", f"{MODELS}/install/{job_id}", expect="none")


def prune_install_jobs_flow() -> Flow[None]:
    """Forget finished install jobs."""
    try:
        yield Call("DELETE", f"{MODELS}/install", expect="none")
    except InternalServerError:
        # The same 204-with-gzip failure as `delete_model_flow`: check the effect.
        jobs = yield from list_install_jobs_flow()
        if any(job.is_terminal for job in jobs):
            raise


def wait_install_flow(
    job_id: int,
    timeout: float | None,
    on_progress: Callable[[ModelInstallStatus], None] | None = None,
) -> Flow[ModelRecord]:
    """Poll an install until it ends; answers the installed record or raises why not."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last: tuple[str, int] | None = None
    for delay in backoff(first=0.05, cap=1.0):
        job = yield from install_job_flow(job_id)
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


def scan_folder_flow(path: str | os.PathLike[str]) -> Flow[list[FoundModel]]:
    answer = yield Call("GET", f"{MODELS}/scan_folder", params={"scan_path": os.fspath(path)})
    return [FoundModel.model_validate(raw) for raw in answer or []]


def delete_model_flow(key: str) -> Flow[None]:
    """Delete a model's record; its files too when they are inside InvokeAI's models folder."""
    try:
        yield Call("DELETE", f"{MODELS}/i/{key}", expect="none")
    except InternalServerError:
        # 6.14.2 deletes the model, then fails to send its empty 204 answer when the
        # request accepts gzip (HTTP 500 from its compression middleware; httpx always
        # accepts gzip). The deletion is confirmed by looking the model up.
        try:
            yield Call("GET", f"{MODELS}/i/{key}")
        except NotFoundError:
            log.debug("model %s deleted (the server answered 500 after deleting it)", key)
            return
        raise


def convert_model_flow(key: str) -> Flow[ModelRecord]:
    """Convert a main checkpoint to diffusers (its key and hash change)."""
    answer = yield Call("PUT", f"{MODELS}/convert/{key}", retry=False, timeout=600)
    return ModelRecord.model_validate(answer)


def cache_stats_flow() -> Flow[CacheStats | None]:
    answer = yield Call("GET", f"{MODELS}/stats")
    return None if answer is None else CacheStats.model_validate(answer)


def empty_cache_flow() -> Flow[None]:
    yield Call("POST", f"{MODELS}/empty_model_cache", expect="none", retry=True)


# --- install jobs --------------------------------------------------------------------------


class _InstallJobBase:
    def __init__(self, status: ModelInstallStatus) -> None:
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
        return f"{type(self).__name__}(id={self.id}, status={self.status!r})"


class ModelInstallJob(_InstallJobBase):
    """A model install running on the server: status, progress, wait, cancel."""

    def __init__(self, client: InvokeAIClient, status: ModelInstallStatus) -> None:
        super().__init__(status)
        self._client = client

    def refresh(self) -> ModelInstallStatus:
        self.last = self._client._run(install_job_flow(self.id))
        return self.last

    def wait(
        self,
        timeout: float | None = 300.0,
        on_progress: Callable[[ModelInstallStatus], None] | None = None,
    ) -> ModelRecord:
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

        return self._client._run(wait_install_flow(self.id, timeout, seen))

    def cancel(self) -> None:
        self._client._run(cancel_install_flow(self.id))


class AsyncModelInstallJob(_InstallJobBase):
    """The async twin of `ModelInstallJob`."""

    def __init__(self, client: AsyncInvokeAIClient, status: ModelInstallStatus) -> None:
        super().__init__(status)
        self._client = client

    async def refresh(self) -> ModelInstallStatus:
        self.last = await self._client._run(install_job_flow(self.id))
        return self.last

    async def wait(
        self,
        timeout: float | None = 300.0,
        on_progress: Callable[[ModelInstallStatus], None] | None = None,
    ) -> ModelRecord:
        def seen(status: ModelInstallStatus) -> None:
            self.last = status
            if on_progress is not None:
                on_progress(status)

        return await self._client._run(wait_install_flow(self.id, timeout, seen))

    async def cancel(self) -> None:
        await self._client._run(cancel_install_flow(self.id))


# --- repositories ----------------------------------------------------------------------------

class ModelRepository:
    """`client.dnn_model_repo`: installed models and installs."""

    def __init__(self, client: InvokeAIClient) -> None:
        self._client = client

    def list_models(
        self,
        base: str | Sequence[str] | None = None,
        type: str | None = None,  # noqa: A002 - the server's name
        name: str | None = None,
        format: str | None = None,  # noqa: A002 - the server's name
    ) -> list[ModelRecord]:
        """Installed models, filtered by base(s), type, exact name and format."""
        return self._client._run(list_models_flow(base, type, name, format))

    def get_model(self, key: str) -> ModelRecord:
        return self._client._run(get_model_flow(key))

    def get_model_by_hash(self, hash_: str) -> ModelRecord:
        return self._client._run(get_by_hash_flow(hash_))

    def get_model_by_attrs(self, name: str, type_: str, base: str) -> ModelRecord:
        return self._client._run(get_by_attrs_flow(name, type_, base))

    def install_model(
        self,
        source: str | os.PathLike[str],
        *,
        inplace: bool = True,
        config: Mapping[str, Any] | None = None,
        access_token: str | None = None,
    ) -> ModelInstallJob:
        """Start installing a local path, URL or HF repo id; `job.wait()` for the result."""
        status = self._client._run(install_flow(source, inplace, config, access_token))
        return ModelInstallJob(self._client, status)

    def get_install_job(self, job_id: int) -> ModelInstallJob:
        return ModelInstallJob(self._client, self._client._run(install_job_flow(job_id)))

    def list_install_jobs(self) -> list[ModelInstallStatus]:
        return self._client._run(list_install_jobs_flow())

    def prune_install_jobs(self) -> None:
        self._client._run(prune_install_jobs_flow())

    def scan_folder(self, path: str | os.PathLike[str]) -> list[FoundModel]:
        """Models found in a folder on the server's machine, with whether each is installed."""
        return self._client._run(scan_folder_flow(path))

    def delete_model(self, key: str) -> None:
        """Delete a model's record; files outside InvokeAI's models folder are kept."""
        self._client._run(delete_model_flow(key))

    def convert_model(self, key: str) -> ModelRecord:
        return self._client._run(convert_model_flow(key))

    def get_cache_stats(self) -> CacheStats | None:
        """Model cache counters (None before any model was loaded)."""
        return self._client._run(cache_stats_flow())

    def empty_model_cache(self) -> None:
        self._client._run(empty_cache_flow())


class AsyncModelRepository:
    """`AsyncInvokeAIClient.dnn_model_repo`: installed models and installs, non-blocking."""

    def __init__(self, client: AsyncInvokeAIClient) -> None:
        self._client = client

    async def list_models(
        self,
        base: str | Sequence[str] | None = None,
        type: str | None = None,  # noqa: A002 - the server's name
        name: str | None = None,
        format: str | None = None,  # noqa: A002 - the server's name
    ) -> list[ModelRecord]:
        return await self._client._run(list_models_flow(base, type, name, format))

    async def get_model(self, key: str) -> ModelRecord:
        return await self._client._run(get_model_flow(key))

    async def get_model_by_hash(self, hash_: str) -> ModelRecord:
        return await self._client._run(get_by_hash_flow(hash_))

    async def get_model_by_attrs(self, name: str, type_: str, base: str) -> ModelRecord:
        return await self._client._run(get_by_attrs_flow(name, type_, base))

    async def install_model(
        self,
        source: str | os.PathLike[str],
        *,
        inplace: bool = True,
        config: Mapping[str, Any] | None = None,
        access_token: str | None = None,
    ) -> AsyncModelInstallJob:
        status = await self._client._run(install_flow(source, inplace, config, access_token))
        return AsyncModelInstallJob(self._client, status)

    async def get_install_job(self, job_id: int) -> AsyncModelInstallJob:
        return AsyncModelInstallJob(self._client, await self._client._run(install_job_flow(job_id)))

    async def list_install_jobs(self) -> list[ModelInstallStatus]:
        return await self._client._run(list_install_jobs_flow())

    async def prune_install_jobs(self) -> None:
        await self._client._run(prune_install_jobs_flow())

    async def scan_folder(self, path: str | os.PathLike[str]) -> list[FoundModel]:
        return await self._client._run(scan_folder_flow(path))

    async def delete_model(self, key: str) -> None:
        await self._client._run(delete_model_flow(key))

    async def convert_model(self, key: str) -> ModelRecord:
        return await self._client._run(convert_model_flow(key))

    async def get_cache_stats(self) -> CacheStats | None:
        return await self._client._run(cache_stats_flow())

    async def empty_model_cache(self) -> None:
        await self._client._run(empty_cache_flow())
