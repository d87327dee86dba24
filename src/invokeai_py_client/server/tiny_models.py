"""Build tiny models with random weights for the local test server (no downloads).

This file runs as a script with the SERVER venv's python, where torch, diffusers,
transformers, spandrel and safetensors are installed; it imports nothing from this
package. Every model is built from fixed seeds, so two builds of the same name give
byte-identical files.

    venv/bin/python tiny_models.py --out MODELS_DIR tiny-sdxl tiny-esrgan-x2

InvokeAI's probe for a diffusers pipeline reads `model_index.json` and takes the base
only from `unet/config.json` `cross_attention_dim` (768 sd-1, 1280 sdxl-refiner,
2048 sdxl); layer counts and widths are not checked, so very small pipelines pass.

Every tokenizer folder carries both formats: the fast `tokenizer.json` (what
transformers 5 saves) and the slow CLIP files `vocab.json` + `merges.txt`, which the
transformers 4.53 of InvokeAI 5.x/6.0 needs (without them every generation fails in
`tokenization_clip.py` with a NoneType error).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST = "tiny-model-manifest.json"
RECIPE_VERSION = 2  # 2: slow tokenizer files beside the fast one
SEED = 1234

# Built lazily: importing this module (for its names) must not need torch.
NAMES = ("tiny-sd1", "tiny-sdxl", "tiny-sdxl-refiner", "tiny-esrgan-x2", "tiny-esrgan-x4")


def bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable character table of GPT-2/CLIP byte-level BPE."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, codes, strict=True)}


MERGES = [("a", "t"), ("c", "at"), ("d", "o"), ("o", "g</w>")]


def clip_vocab() -> dict[str, int]:
    """The 256 byte characters, each also as a word end, the merged tokens, then the
    two special tokens (`<|endoftext|>` last)."""
    chars = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in [*chars, *(c + "</w>" for c in chars), *(a + b for a, b in MERGES)]:
        vocab.setdefault(token, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def tokenizer_files(pad_token: str) -> dict[str, str]:
    """A minimal CLIP byte-level BPE tokenizer that `CLIPTokenizer` loads."""
    vocab = clip_vocab()
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": pad_token,
        "do_lower_case": True,
        "errors": "replace",
        "clean_up_tokenization_spaces": True,
    }
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": pad_token,
    }
    return {
        "vocab.json": json.dumps(vocab, ensure_ascii=False, indent=1, sort_keys=False) + "\n",
        "merges.txt": "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES),
        "tokenizer_config.json": json.dumps(config, indent=2, sort_keys=True) + "\n",
        "special_tokens_map.json": json.dumps(special, indent=2, sort_keys=True) + "\n",
    }


def vocab_size() -> int:
    return len(clip_vocab())


def write_tokenizer(directory: Path, pad_token: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in tokenizer_files(pad_token).items():
        (directory / name).write_text(text, encoding="utf-8")


def _seeded(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def _text_encoder(hidden: int, *, with_projection: bool, seed: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    eos = vocab_size() - 1
    config = CLIPTextConfig(
        vocab_size=vocab_size(),
        hidden_size=hidden,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=8,
        max_position_embeddings=77,
        projection_dim=hidden,  # InvokeAI zero-fills an empty prompt's pooled embedding at hidden width
        bos_token_id=eos - 1,
        eos_token_id=eos,
        pad_token_id=eos,
        hidden_act="quick_gelu",
    )
    _seeded(seed)
    model = CLIPTextModelWithProjection(config) if with_projection else CLIPTextModel(config)
    return model.eval()


def _unet(cross_attention_dim: int, *, time_ids: int | None, seed: int) -> Any:
    from diffusers import UNet2DConditionModel

    extra: dict[str, Any] = {}
    if time_ids is not None:
        # SDXL micro-conditioning: 6 time ids for the base, 5 for the refiner, plus the
        # pooled text embedding (1280 wide).
        extra = {
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 8,
            "projection_class_embeddings_input_dim": 8 * time_ids + 1280,
            "use_linear_projection": True,
        }
    _seeded(seed)
    return UNet2DConditionModel(
        sample_size=64 if time_ids is None else 128,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        cross_attention_dim=cross_attention_dim,
        norm_num_groups=32,
        **extra,
    ).eval()


def _vae(kind: str, *, seed: int, sdxl: bool) -> Any:
    _seeded(seed)
    if kind == "tiny":
        # AutoencoderTiny encodes deterministically (AutoencoderKL samples its posterior
        # with an unseeded RNG in InvokeAI's i2l); its 3 upsamplings keep the x8 scale.
        from diffusers import AutoencoderTiny

        return AutoencoderTiny(
            encoder_block_out_channels=(16, 16, 16, 16),
            decoder_block_out_channels=(16, 16, 16, 16),
            num_encoder_blocks=(1, 1, 1, 1),
            num_decoder_blocks=(1, 1, 1, 1),
            latent_channels=4,
        ).eval()
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 32, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=32,
        sample_size=128,
        scaling_factor=0.13025 if sdxl else 0.18215,
    ).eval()


SCHEDULER_BETAS: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
    "prediction_type": "epsilon",
}


def build_sd1(out: Path, vae_kind: str) -> None:
    from diffusers import PNDMScheduler, StableDiffusionPipeline
    from transformers import CLIPTokenizer

    write_tokenizer(out / "_tok", pad_token="<|endoftext|>")
    pipe = StableDiffusionPipeline(
        vae=_vae(vae_kind, seed=SEED + 1, sdxl=False),
        text_encoder=_text_encoder(768, with_projection=False, seed=SEED + 2),
        tokenizer=CLIPTokenizer.from_pretrained(str(out / "_tok")),
        unet=_unet(768, time_ids=None, seed=SEED + 3),
        scheduler=PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=False, **SCHEDULER_BETAS),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    _save(pipe, out)


def build_sdxl(out: Path, vae_kind: str, *, refiner: bool) -> None:
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionXLImg2ImgPipeline,
        StableDiffusionXLPipeline,
    )
    from transformers import CLIPTokenizer

    write_tokenizer(out / "_tok", pad_token="<|endoftext|>")
    write_tokenizer(out / "_tok2", pad_token="!")
    common: dict[str, Any] = {
        "vae": _vae(vae_kind, seed=SEED + 11, sdxl=True),
        "text_encoder_2": _text_encoder(1280, with_projection=True, seed=SEED + 13),
        "tokenizer_2": CLIPTokenizer.from_pretrained(str(out / "_tok2")),
        "scheduler": EulerDiscreteScheduler(
            interpolation_type="linear", timestep_spacing="leading", **SCHEDULER_BETAS
        ),
    }
    pipe: Any
    if refiner:
        pipe = StableDiffusionXLImg2ImgPipeline(
            text_encoder=None,
            tokenizer=None,
            unet=_unet(1280, time_ids=5, seed=SEED + 14),
            requires_aesthetics_score=True,
            force_zeros_for_empty_prompt=False,
            **common,
        )
    else:
        pipe = StableDiffusionXLPipeline(
            text_encoder=_text_encoder(768, with_projection=False, seed=SEED + 12),
            tokenizer=CLIPTokenizer.from_pretrained(str(out / "_tok")),
            unet=_unet(2048, time_ids=6, seed=SEED + 14),
            **common,
        )
    _save(pipe, out)


def _save(pipe: Any, out: Path) -> None:
    pipe.save_pretrained(str(out), safe_serialization=True)
    for scratch in ("_tok", "_tok2"):
        shutil.rmtree(out / scratch, ignore_errors=True)
    add_slow_tokenizer_files(out)


SLOW_TOKENIZER_FILES = ("vocab.json", "merges.txt")


def add_slow_tokenizer_files(model: Path) -> list[Path]:
    """Write `vocab.json` and `merges.txt` into each `tokenizer*` folder lacking them.

    Whatever transformers saved stays; the files written are the ones the tokenizer
    was built from (the vocabulary does not depend on the pad token). Returns them.
    """
    written: list[Path] = []
    files = tokenizer_files(pad_token="<|endoftext|>")
    for folder in sorted(model.glob("tokenizer*")):
        if not folder.is_dir():
            continue
        for name in SLOW_TOKENIZER_FILES:
            if not (folder / name).exists():
                (folder / name).write_text(files[name], encoding="utf-8")
                written.append(folder / name)
    return written


def build_esrgan(out: Path, scale: int) -> None:
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN

    _seeded(SEED + 20 + scale)
    model = ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=1, scale=scale)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / f"tiny-esrgan-x{scale}.safetensors"))


def builders(vae_kind: str) -> dict[str, Callable[[Path], None]]:
    return {
        "tiny-sd1": lambda out: build_sd1(out, vae_kind),
        "tiny-sdxl": lambda out: build_sdxl(out, vae_kind, refiner=False),
        "tiny-sdxl-refiner": lambda out: build_sdxl(out, vae_kind, refiner=True),
        "tiny-esrgan-x2": lambda out: build_esrgan(out, 2),
        "tiny-esrgan-x4": lambda out: build_esrgan(out, 4),
    }


def file_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` except the manifest, by relative path."""
    hashes: dict[str, str] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if rel != MANIFEST:
            hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def install_source(directory: Path) -> Path:
    """The path to give InvokeAI's installer: the pipeline folder, or the single weights file."""
    files = sorted(directory.glob("*.safetensors"))
    if not (directory / "model_index.json").exists() and len(files) == 1:
        return files[0]
    return directory


def is_intact(directory: Path, vae_kind: str) -> bool:
    """True when `directory` holds a finished build whose files still match its manifest."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if manifest.get("recipe") != RECIPE_VERSION or manifest.get("vae") != vae_kind:
        return False
    return bool(manifest.get("files")) and file_hashes(directory) == manifest["files"]


def _write_manifest(directory: Path, name: str, vae_kind: str) -> None:
    manifest = {"name": name, "recipe": RECIPE_VERSION, "vae": vae_kind, "files": file_hashes(directory)}
    tmp = directory / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(directory / MANIFEST)


def upgrade_in_place(directory: Path, vae_kind: str) -> bool:
    """Bring an intact recipe-1 build up to the current recipe without rebuilding it.

    Recipe 2 only adds the slow tokenizer files, so a server that has the model
    installed keeps working while it happens. Returns True if the build was upgraded.
    """
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if manifest.get("recipe") != 1 or manifest.get("vae") != vae_kind:
        return False
    if not manifest.get("files") or file_hashes(directory) != manifest["files"]:
        return False
    add_slow_tokenizer_files(directory)
    _write_manifest(directory, str(manifest.get("name", directory.name)), vae_kind)
    return True


def build(name: str, models_dir: Path, vae_kind: str) -> tuple[Path, bool]:
    """Build `name` into `models_dir/name` unless an intact build is there.

    Returns the model directory and whether it was (re)built.
    """
    out = models_dir / name
    if is_intact(out, vae_kind):
        return out, False
    # A partial or stale build is thrown away; the manifest is written last.
    shutil.rmtree(out, ignore_errors=True)
    tmp = models_dir / f".{name}.building"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    builders(vae_kind)[name](tmp)
    _write_manifest(tmp, name, vae_kind)
    tmp.rename(out)
    return out, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="directory that receives one folder per model")
    parser.add_argument("--vae", choices=("tiny", "kl"), default="tiny")
    parser.add_argument("names", nargs="*", default=list(NAMES))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(NAMES))
    if unknown:
        parser.error(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(NAMES)}")
    import torch

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        path, built = build(name, args.out, args.vae)
        # One JSON line per model on stdout: the caller parses these.
        print(json.dumps({"name": name, "path": str(path), "source": str(install_source(path)), "built": built}))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
