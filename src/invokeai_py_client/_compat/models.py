"""Small adapters for 1.1.1's model answers."""

from __future__ import annotations

from typing import Any

__all__ = ["AttrDict"]


class AttrDict(dict[str, Any]):
    """A model identifier that also reads by attribute (``.name``, ``.key``), as 1.1.1's fields did."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


_SIZE_UNITS = ("B", "KB", "MB", "GB", "TB")

_CATEGORIES = {
    "main": "Main models", "vae": "VAE", "lora": "LoRA", "control_lora": "Control LoRA",
    "controlnet": "ControlNet", "embedding": "Textual inversion", "ip_adapter": "IP adapter",
    "clip_vision": "CLIP vision", "clip_embed": "CLIP embed", "t2i_adapter": "T2I adapter",
    "t5_encoder": "T5 encoder", "spandrel_image_to_image": "Upscaling (spandrel)",
    "siglip": "SigLIP", "flux_redux": "FLUX Redux", "llava_onevision": "LLaVA OneVision",
}


class ModelRecordCompat:
    """`format_file_size`, `get_category`, `is_compatible_with_base` of 1.1.1's `DnnModel`.

    (No annotations here: the record is a pydantic model, which would take them as fields.)
    """

    def format_file_size(self) -> str:
        """The file size for people, e.g. ``"2.1 GB"`` (``"unknown"`` when the server gives none)."""
        file_size = getattr(self, "file_size", None)
        if file_size is None:
            return "unknown"
        size = float(file_size)
        for unit in _SIZE_UNITS:
            if size < 1024 or unit == _SIZE_UNITS[-1]:
                return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
            size /= 1024
        raise AssertionError("unreachable")

    def get_category(self) -> str:
        """A readable name for the model's type, e.g. ``"Main models"``."""
        kind = str(getattr(self, "type", ""))
        return _CATEGORIES.get(kind, kind)

    def is_compatible_with_base(self, base: str) -> bool:
        """Usable with models of `base`: same base, or a model of any base."""
        return str(getattr(self, "base", "")) in (str(base), "any")


class ModelRepositoryCompat:
    """`get_model_by_key`, `install_huggingface`, `get_stats`, `delete_all_models` of 1.1.1 (sync client)."""

    def get_model_by_key(self, model_key: str) -> Any:
        """The model's record, or None when no model has this key."""
        from .._exceptions import NotFoundError

        try:
            return self.get_model(model_key)  # type: ignore[attr-defined]
        except NotFoundError:
            return None

    def install_huggingface(self, repo_id: str, *, config: Any = None, access_token: str | None = None) -> Any:
        """Install from a Hugging Face repo id (`install_model` takes those too)."""
        return self.install_model(repo_id, config=config, access_token=access_token)  # type: ignore[attr-defined]

    def get_stats(self) -> Any:
        return self.get_cache_stats()  # type: ignore[attr-defined]

    def delete_all_models(self) -> dict[str, Any]:
        """Delete every installed model; answers which were deleted and which failed (and why)."""
        from .._exceptions import InvokeAIError

        deleted: list[str] = []
        failed: list[dict[str, str]] = []
        for model in self.list_models():  # type: ignore[attr-defined]
            try:
                self.delete_model(model.key)  # type: ignore[attr-defined]
            except InvokeAIError as exc:
                failed.append({"key": model.key, "name": model.name, "error": str(exc)})
            else:
                deleted.append(model.key)
        return {"total": len(deleted) + len(failed), "deleted": len(deleted), "failed": failed, "keys": deleted}


class ModelInstallJobCompat:
    """`info`, `model_key`, `wait_until` of 1.1.1's install job handle (sync client)."""

    @property
    def info(self) -> Any:
        return getattr(self, "last", None)

    @property
    def model_key(self) -> str | None:
        config = getattr(getattr(self, "last", None), "config_out", None) or {}
        key = config.get("key")
        return key if isinstance(key, str) else None

    def wait_until(self, timeout: float | None = 600.0, poll_interval: float = 2.0) -> Any:
        """Wait for the install to end; answers the job's final state (raises if it failed).

        `poll_interval` is accepted and unused (the wait backs off on its own).
        """
        self.wait(timeout)  # type: ignore[attr-defined]
        return self.info
