"""Shared pieces of the local server: errors, paths, progress, yaml, state file, ports."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from .._exceptions import InvokeAIError

INVOKEAI_VERSION = "6.14.2"
TORCH_REQUIREMENTS = ("torch==2.13.0", "torchvision==0.28.0")
DEFAULT_INSTANCE = "default"


class LocalServerError(InvokeAIError):
    """The local InvokeAI server could not be provisioned, started or stopped.

    `step` names what was being done; `hint` says what to do about it.
    """

    def __init__(self, step: str, message: str, hint: str = "") -> None:
        self.step = step
        self.hint = hint
        text = f"[{step}] {message}"
        if hint:
            text += f"\nWhat to do: {hint}"
        super().__init__(text)


class ProvisionError(LocalServerError):
    """A provisioning step (venv, pip install, torchvision check, tiny models) failed."""


class Progress(Protocol):
    """Receives progress of long operations; the CLI draws it, the library only logs."""

    def step(self, name: str, description: str) -> None:
        """A step starts."""

    def detail(self, text: str) -> None:
        """A line of output from the running step (e.g. pip's)."""

    def done(self, name: str, seconds: float, *, skipped: bool) -> None:
        """The step finished (or had nothing to do)."""


class NullProgress:
    """Progress that goes nowhere."""

    def step(self, name: str, description: str) -> None:
        pass

    def detail(self, text: str) -> None:
        pass

    def done(self, name: str, seconds: float, *, skipped: bool) -> None:
        pass


def default_home() -> Path:
    """`$INVOKEAI_PY_HOME`, else `~/.cache/invokeai-py-client`."""
    env = os.environ.get("INVOKEAI_PY_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "invokeai-py-client"


@dataclass(frozen=True)
class ServerPaths:
    """Where everything lives under a home directory.

    Each InvokeAI version has its own venv, shared by the instances that run it; the
    tiny models are shared by every instance; each instance has its own InvokeAI root,
    state file and log (the default instance sits at the top).
    """

    home: Path
    instance: str = DEFAULT_INSTANCE
    invokeai_version: str = INVOKEAI_VERSION

    @property
    def venv(self) -> Path:
        return self.home / f"venv-{self.invokeai_version}"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def invokeai_web(self) -> Path:
        return self.venv / "bin" / "invokeai-web"

    @property
    def markers(self) -> Path:
        return self.venv / ".invokeai-py-steps"

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def instance_dir(self) -> Path:
        if self.instance == DEFAULT_INSTANCE:
            return self.home
        return self.home / "instances" / self.instance

    @property
    def root(self) -> Path:
        return self.instance_dir / "root"

    @property
    def state_file(self) -> Path:
        return self.instance_dir / "server.json"

    @property
    def log_file(self) -> Path:
        return self.instance_dir / "server.log"

    @property
    def version_file(self) -> Path:
        """Records the InvokeAI version an instance was brought up with."""
        return self.instance_dir / "invokeai-version"


@dataclass(frozen=True)
class ServerState:
    """What `up` records about the process it started (`server.json`)."""

    pid: int
    port: int
    url: str
    started_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerState:
        return cls(
            pid=int(data["pid"]),
            port=int(data["port"]),
            url=str(data["url"]),
            started_at=str(data["started_at"]),
        )


def read_state(path: Path) -> ServerState | None:
    """The state file's content, or None if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ServerState.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(path: Path, state: ServerState) -> None:
    """Write the state file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(state.to_json(), encoding="utf-8")
    tmp.replace(path)


def remove_state(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on host:port.

    Binds with SO_REUSEADDR like the server's uvicorn does, so a port whose last
    connections linger in TIME_WAIT after a stop counts as free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """`preferred` if it is free, else a port the OS reports as free."""
    if preferred is not None and port_is_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose_port(root: Path, default: int) -> int:
    """The port an instance had before (so a client holding its URL reconnects after a
    restart) if it is free; else `default` if free; else any free port."""
    port_file = root / "last-port"
    previous = port_file.read_text(encoding="utf-8").strip() if port_file.exists() else ""
    if previous.isdigit() and port_is_free(int(previous)):
        return int(previous)
    return pick_free_port(default)


def remember_port(root: Path, port: int) -> None:
    (root / "last-port").write_text(f"{port}\n", encoding="utf-8")


def port_moved_in_log(log_text: str) -> int | None:
    """The port InvokeAI moved to, from its `Port A is already in use. Using port B.` line."""
    marker = "is already in use. Using port "
    for line in reversed(log_text.splitlines()):
        if marker in line:
            tail = line.split(marker, 1)[1].rstrip(". \r")
            with contextlib.suppress(ValueError):
                return int(tail)
    return None


def running_port_in_log(log_text: str) -> int | None:
    """The port from InvokeAI's `Invoke running on http://HOST:PORT` line, if logged."""
    marker = "Invoke running on http://"
    for line in reversed(log_text.splitlines()):
        if marker in line:
            address = line.split(marker, 1)[1].split()[0].rstrip("/")
            with contextlib.suppress(ValueError):
                return int(address.rsplit(":", 1)[1])
    return None


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file ('' if absent)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
