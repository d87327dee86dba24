"""Install InvokeAI into its own venv and build the tiny models, step by step.

Every step leaves a marker file when it completes, holding what it did (the
requirements, the constraints hash); a step whose marker is missing or different
runs again, so an interrupted provisioning resumes where it stopped. A venv without
its `venv` marker is half-created and is rebuilt from scratch.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import tiny_models
from ._common import (
    INVOKEAI_VERSION,
    TORCH_REQUIREMENTS,
    NullProgress,
    Progress,
    ProvisionError,
    ServerPaths,
)
from .releases import Release, release

logger = logging.getLogger(__name__)

REQUIRED_FREE_BYTES = 8 * 1024**3
TINY_VAE = "tiny"  # AutoencoderTiny: deterministic i2l (see tiny_models.py)

_NMS_ERROR = "operator torchvision::nms does not exist"
_UNGUARDED_FAKE = re.compile(r'^@torch\.library\.register_fake\(("torchvision::\w+")\)[ \t]*$', re.MULTILINE)


def patch_torchvision_meta_registrations(text: str) -> tuple[str, int]:
    """Guard torchvision's unguarded `register_fake` decorators like the others.

    torchvision 0.28.0's `_meta_registrations.py` registers fake kernels for
    `torchvision::nms` and `torchvision::qnms` unconditionally, while every other
    registration first checks `torchvision.extension._has_ops()`. With the CUDA
    wheel beside a CPU torch the compiled ops are missing, so `import torchvision`
    fails. Returns the patched text and how many decorators were guarded; text that
    is already patched comes back unchanged with 0.
    """
    return _UNGUARDED_FAKE.subn(
        r"@(torch.library.register_fake(\1) if torchvision.extension._has_ops() else (lambda fn: fn))",
        text,
    )


def constraints_path(version: str | None = None) -> Path:
    """The constraints file shipped in this package for `version` (default: 6.14.2)."""
    return release(version or INVOKEAI_VERSION).constraints_path()


_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# Installed beforehand, for every release, in the versions we run them at.
_PREINSTALLED = frozenset({"torch", "torchvision"})


def requirements_to_resolve(declared: Sequence[str]) -> list[str]:
    """A release's declared requirements less torch/torchvision and extras-only ones.

    Takes `importlib.metadata.requires("invokeai")` of the server venv; pip evaluates
    the remaining environment markers itself.
    """
    kept: list[str] = []
    for requirement in declared:
        match = _REQUIREMENT_NAME.match(requirement)
        if not match:
            continue
        name = match.group(1).lower().replace("_", "-")
        _, _, marker = requirement.partition(";")
        if name in _PREINSTALLED or "extra ==" in marker.replace("extra==", "extra =="):
            continue
        kept.append(requirement.strip())
    return kept


def builder_script() -> Path:
    """The tiny-model builder, run by the server venv's python."""
    return Path(tiny_models.__file__)


def find_python311(version: str = INVOKEAI_VERSION) -> str:
    """A Python 3.11 interpreter: this one if it is 3.11, else `python3.11` on PATH."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if found:
        return found
    raise ProvisionError(
        "python",
        f"InvokeAI {version} needs Python 3.11 here; this is {sys.version.split()[0]} "
        "and no python3.11 is on PATH.",
        "install Python 3.11 (e.g. `uv python install 3.11` or your package manager) "
        "and put python3.11 on PATH.",
    )


def _diagnose_pip(output: str) -> str:
    lowered = output.lower()
    if "no space left on device" in lowered:
        return "the disk is full: free space (about 8 GB are needed) or set INVOKEAI_PY_HOME to a larger disk."
    network = (
        "failed to establish a new connection",
        "temporary failure in name resolution",
        "connection refused",
        "read timed out",
        "connectionerror",
        "proxyerror",
        "no matching distribution found",
        "could not find a version",
    )
    if any(word in lowered for word in network):
        return (
            "the package registry is unreachable or lacks the package: check network/proxy "
            "settings (`pip config list`) and re-run; finished steps are not repeated."
        )
    return "read pip's output above, fix the cause and re-run; finished steps are not repeated."


class Provisioner:
    """Runs the provisioning steps for one home directory."""

    def __init__(self, paths: ServerPaths, progress: Progress | None = None) -> None:
        self.paths = paths
        self.progress: Progress = progress or NullProgress()

    # -- markers ------------------------------------------------------------------
    def _marker(self, step: str) -> Path:
        return self.paths.markers / f"{step}.done"

    def _is_done(self, step: str, spec: dict[str, object]) -> bool:
        try:
            return bool(json.loads(self._marker(step).read_text(encoding="utf-8")) == spec)
        except (OSError, ValueError):
            return False

    def _mark_done(self, step: str, spec: dict[str, object]) -> None:
        self.paths.markers.mkdir(parents=True, exist_ok=True)
        self._marker(step).write_text(json.dumps(spec, sort_keys=True), encoding="utf-8")

    def _step(self, name: str, description: str, spec: dict[str, object], action: Callable[[], None]) -> None:
        if self._is_done(name, spec):
            logger.debug("step %s already done", name)
            self.progress.done(name, 0.0, skipped=True)
            return
        logger.info("%s", description)
        self.progress.step(name, description)
        started = time.monotonic()
        action()
        self._mark_done(name, spec)
        seconds = time.monotonic() - started
        logger.info("step %s done in %.1f s", name, seconds)
        self.progress.done(name, seconds, skipped=False)

    # -- subprocesses -------------------------------------------------------------
    def _run(self, step: str, argv: Sequence[str], *, hint: Callable[[str], str]) -> str:
        """Run `argv`, streaming its output lines to the log and the progress."""
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUNBUFFERED="1")
        logger.debug("running %s", " ".join(argv))
        tail: collections.deque[str] = collections.deque(maxlen=40)
        try:
            proc = subprocess.Popen(
                list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
            )
        except OSError as exc:
            raise ProvisionError(step, f"could not run {argv[0]}: {exc}", "check the home directory") from exc
        assert proc.stdout is not None
        with proc:
            for raw in proc.stdout:
                line = raw.rstrip()
                if line:
                    tail.append(line)
                    logger.debug("%s: %s", step, line)
                    self.progress.detail(line)
        output = "\n".join(tail)
        if proc.returncode != 0:
            raise ProvisionError(
                step,
                f"`{' '.join(argv[:4])} ...` exited with {proc.returncode}. Last output:\n{output}",
                hint(output),
            )
        return output

    def _pip(self, step: str, args: Sequence[str]) -> None:
        argv = [str(self.paths.python), "-m", "pip", "install", "--progress-bar", "off", *args]
        self._run(step, argv, hint=_diagnose_pip)

    # -- the steps ----------------------------------------------------------------
    def check_disk_space(self) -> None:
        """Fail early when the home's disk has less than ~8 GB free."""
        self.paths.home.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.paths.home).free
        if free < REQUIRED_FREE_BYTES:
            raise ProvisionError(
                "disk",
                f"only {free / 1024**3:.1f} GB free under {self.paths.home}; installing "
                f"InvokeAI {self.paths.invokeai_version} needs about 8 GB (the venv ends at ~2.7 GB).",
                "free disk space, or set INVOKEAI_PY_HOME to a directory on a larger disk.",
            )

    def _create_venv(self) -> None:
        python = find_python311(self.paths.invokeai_version)
        if self.paths.venv.exists():
            logger.info("removing half-created venv %s", self.paths.venv)
            shutil.rmtree(self.paths.venv)
        self._run(
            "venv",
            [python, "-m", "venv", str(self.paths.venv)],
            hint=lambda _: "check that this Python has the venv module (Debian: apt install python3.11-venv).",
        )

    def _check_torchvision(self) -> None:
        probe = [str(self.paths.python), "-c", "import torchvision"]
        result = subprocess.run(probe, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return
        if _NMS_ERROR not in result.stderr:
            raise ProvisionError(
                "torchvision",
                f"`import torchvision` fails in {self.paths.venv}:\n{result.stderr[-2000:]}",
                f"delete {self.paths.venv} and provision again.",
            )
        locate = "import importlib.util as u; print(u.find_spec('torchvision').submodule_search_locations[0])"
        where = subprocess.run(
            [str(self.paths.python), "-c", locate], capture_output=True, text=True, check=True
        ).stdout.strip()
        target = Path(where) / "_meta_registrations.py"
        patched, count = patch_torchvision_meta_registrations(target.read_text(encoding="utf-8"))
        logger.info("guarding %d register_fake decorators in %s", count, target)
        if count:
            target.write_text(patched, encoding="utf-8")
        again = subprocess.run(probe, capture_output=True, text=True, check=False)
        if again.returncode != 0:
            raise ProvisionError(
                "torchvision",
                f"`import torchvision` still fails after patching {target}:\n{again.stderr[-2000:]}",
                "use torch==2.14.1 torchvision==0.29.1 instead (no patch needed, larger venv).",
            )

    def provision(self) -> None:
        """Run every step that is not done yet; see the module docstring."""
        paths = self.paths
        recipe = release(paths.invokeai_version)
        venv_spec: dict[str, object] = {"python": "3.11", "invokeai": recipe.version}
        if not self._is_done("venv", venv_spec) or not paths.python.exists():
            self.check_disk_space()
            # Markers live inside the venv: rebuilding it forgets every later step.
            self._step("venv", f"Creating the venv {paths.venv}", venv_spec, self._create_venv)
        torch_spec: dict[str, object] = {"requirements": list(TORCH_REQUIREMENTS)}
        if not self._is_done("torch", torch_spec):
            self.check_disk_space()
        self._step(
            "torch",
            f"Installing {' '.join(TORCH_REQUIREMENTS)}",
            torch_spec,
            lambda: self._pip("torch", TORCH_REQUIREMENTS),
        )
        constraints = recipe.constraints_path()
        invokeai_spec: dict[str, object] = {
            "requirement": f"invokeai=={recipe.version}",
            "constraints_sha256": hashlib.sha256(constraints.read_bytes()).hexdigest(),
        }
        if recipe.no_deps:
            invokeai_spec["no_deps"] = True
        self._step(
            "invokeai",
            f"Installing invokeai=={recipe.version} (about a minute)",
            invokeai_spec,
            lambda: self._install_invokeai(recipe, constraints),
        )
        self._step(
            "torchvision",
            "Checking that torchvision imports (patching it if needed)",
            {"torchvision": TORCH_REQUIREMENTS[1]},
            self._check_torchvision,
        )
        self.build_tiny_models()

    def _install_invokeai(self, recipe: Release, constraints: Path) -> None:
        if not recipe.no_deps:
            self._pip("invokeai", ["-c", str(constraints), f"invokeai=={recipe.version}"])
            return
        # Its declared torch pin would replace ours: install it alone, then what it
        # requires besides torch/torchvision under the era's pins.
        self._pip("invokeai", ["--no-deps", f"invokeai=={recipe.version}"])
        probe = "import importlib.metadata as m, json; print(json.dumps(m.requires('invokeai') or []))"
        result = subprocess.run([str(self.paths.python), "-c", probe], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ProvisionError("invokeai", f"reading invokeai's requirements failed:\n{result.stderr[-2000:]}")
        requirements = requirements_to_resolve(json.loads(result.stdout))
        self._pip("invokeai", ["-c", str(constraints), *requirements])

    def build_tiny_models(self, names: Sequence[str] = tiny_models.NAMES) -> list[dict[str, object]]:
        """Build the missing or damaged tiny models; returns one record per model
        (name, path, source to install from, built)."""
        models = self.paths.models
        for name in names:
            if tiny_models.upgrade_in_place(models / name, TINY_VAE):
                logger.info("added the slow tokenizer files to %s", models / name)
        missing = [n for n in names if not tiny_models.is_intact(models / n, TINY_VAE)]
        if missing:
            description = f"Building tiny models: {', '.join(missing)}"
            self.progress.step("models", description)
            logger.info("%s", description)
            started = time.monotonic()
            argv = [str(self.paths.python), str(builder_script()), "--out", str(models), "--vae", TINY_VAE, *missing]
            self._run(
                "models",
                argv,
                hint=lambda _: f"delete {models} and re-run; if it fails again, re-provision the venv.",
            )
            self.progress.done("models", time.monotonic() - started, skipped=False)
        else:
            self.progress.done("models", 0.0, skipped=True)
        damaged = [n for n in names if not tiny_models.is_intact(models / n, TINY_VAE)]
        if damaged:
            raise ProvisionError("models", f"the builder left no intact model for {', '.join(damaged)}")
        return [
            {
                "name": n,
                "path": str(models / n),
                "source": str(tiny_models.install_source(models / n)),
                "built": n in missing,
            }
            for n in names
        ]
