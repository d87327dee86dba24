"""Start, find and stop a local InvokeAI server provisioned by this package."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import signal
import subprocess
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import InvokeAIError
from ..client import InvokeAIClient
from ..model_manager import ModelInstallError, ModelInstallTimeoutError
from . import tiny_models
from ._common import (
    DEFAULT_INSTANCE,
    INVOKEAI_VERSION,
    LocalServerError,
    NullProgress,
    Progress,
    ServerPaths,
    ServerState,
    choose_port,
    default_home,
    log_tail,
    port_moved_in_log,
    read_state,
    remember_port,
    remove_state,
    running_port_in_log,
    write_state,
)
from .provision import Provisioner
from .releases import invokeai_yaml, release

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9090


def instance_port(instance: str) -> int:
    """The port an instance asks for first: 9090 for the default one, a port of its own
    (from its name) for the others, so instances started together do not race for one."""
    if instance == DEFAULT_INSTANCE:
        return DEFAULT_PORT
    return DEFAULT_PORT + 1 + zlib.crc32(instance.encode("utf-8")) % 400
INSTALL_TIMEOUT = 120.0


@dataclass
class ServerStatus:
    """What `LocalServer.status()` found."""

    running: bool
    home: Path
    pid: int | None = None
    url: str | None = None
    version: str | None = None
    started_at: str | None = None
    models: list[dict[str, Any]] = field(default_factory=list)


def process_cmdline(pid: int) -> str | None:
    """The command line of a live (non-zombie) process, or None if there is none."""
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return None
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            return None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return None
    # No /proc (macOS): ask ps.
    result = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def is_invokeai_web(pid: int) -> bool:
    cmdline = process_cmdline(pid)
    return cmdline is not None and "invokeai-web" in cmdline


def server_version(url: str, timeout: float = 2.0) -> str | None:
    """The version an InvokeAI server at `url` reports, or None if none answers."""
    try:
        with _client(url, timeout) as client:
            return client.server_version()
    except InvokeAIError:
        return None


def multiuser_enabled(url: str, timeout: float = 5.0) -> bool | None:
    """Whether the server at `url` runs in multi-user mode, or None if it does not say."""
    try:
        with _client(url, timeout) as client:
            return bool(client.request("GET", "/api/v1/auth/status")["multiuser_enabled"])
    except (InvokeAIError, KeyError, TypeError):
        return None


def _recorded_version(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _client(url: str, timeout: float = 30.0) -> InvokeAIClient:
    """A client for probing and setting up the local server (no retries, no socket)."""
    return InvokeAIClient(url, timeout=timeout, max_retries=0, use_events=False)


class LocalServer:
    """A local InvokeAI server (CPU, 127.0.0.1) with the tiny test models.

        >>> from invokeai_py_client.server import LocalServer
        >>> server = LocalServer()          # home: $INVOKEAI_PY_HOME or ~/.cache/invokeai-py-client
        >>> url = server.up()               # doctest: +SKIP  (provisions on first use)
        >>> server.down()                   # doctest: +SKIP
        >>> old = LocalServer(instance="v515", invokeai_version="5.15.0")  # its own venv

    `instance` names a separate server (own root, port, state and log) sharing the
    home's models, and the venv of its InvokeAI version with the instances running the
    same one; the default instance lives at the top of the home.

    `invokeai_version` picks the release (see `releases.RELEASES`). Without it, an
    instance runs the version it was last brought up with, else 6.14.2.

    `multiuser=True` starts it with user accounts (`multiuser: true`): create the
    first administrator with `POST /api/v1/auth/setup`, then log in. Installing
    models needs an administrator's token there, so `up()` installs none.
    """

    def __init__(
        self,
        home: Path | str | None = None,
        *,
        instance: str = DEFAULT_INSTANCE,
        invokeai_version: str | None = None,
        multiuser: bool = False,
        progress: Progress | None = None,
        start_timeout: float = 120.0,
        stop_timeout: float = 30.0,
    ) -> None:
        base = ServerPaths(Path(home).expanduser() if home is not None else default_home(), instance)
        version = invokeai_version or _recorded_version(base.version_file) or INVOKEAI_VERSION
        release(version)  # refuse a version we cannot install before anything happens
        self.paths = ServerPaths(base.home, instance, version)
        self.multiuser = multiuser
        self.progress: Progress = progress or NullProgress()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def home(self) -> Path:
        return self.paths.home

    @property
    def invokeai_version(self) -> str:
        return self.paths.invokeai_version

    # -- provisioning -------------------------------------------------------------
    def provision(self) -> None:
        """Install InvokeAI into its venv and build the tiny models (resumable).

        The instance remembers the version, so a later `up` without one starts it.
        """
        Provisioner(self.paths, self.progress).provision()
        self._record_version()

    def _record_version(self) -> None:
        self.paths.instance_dir.mkdir(parents=True, exist_ok=True)
        self.paths.version_file.write_text(f"{self.invokeai_version}\n", encoding="utf-8")

    # -- finding the running server -----------------------------------------------
    def _live_state(self) -> ServerState | None:
        """The state file if its process is our invokeai-web and answers; else None."""
        state = read_state(self.paths.state_file)
        if state is None:
            return None
        if is_invokeai_web(state.pid) and server_version(state.url) == self.invokeai_version:
            return state
        return None

    def url(self) -> str | None:
        """The base URL of the running server, or None if it is not running."""
        state = self._live_state()
        return state.url if state else None

    def status(self) -> ServerStatus:
        """What is running: pid, url, version and installed models, or `running=False`."""
        state = read_state(self.paths.state_file)
        if state is None or not is_invokeai_web(state.pid):
            return ServerStatus(running=False, home=self.home)
        version = server_version(state.url)
        models: list[dict[str, Any]] = []
        if version:
            with contextlib.suppress(InvokeAIError):
                models = [
                    {"name": m.get("name"), "base": m.get("base"), "type": m.get("type"), "key": m.get("key")}
                    for m in self._list_models(state.url)
                ]
        return ServerStatus(
            running=version is not None,
            home=self.home,
            pid=state.pid,
            url=state.url,
            version=version,
            started_at=state.started_at,
            models=models,
        )

    # -- start --------------------------------------------------------------------
    def up(self, *, install_models: bool = True) -> str:
        """Provision if needed, start the server unless it runs, install the tiny
        models; returns the base URL (e.g. http://127.0.0.1:9090).

        Concurrent calls on the same instance (e.g. several test processes) are
        serialised by a lock file; all of them get the one server.
        """
        with self._locked():
            state = self._live_state()
            if state is not None:
                logger.info("server already running: pid %d at %s", state.pid, state.url)
                url = state.url
                if multiuser_enabled(url) not in (self.multiuser, None):
                    raise LocalServerError(
                        "start",
                        f"the server at {url} runs {'without' if self.multiuser else 'in'} multi-user mode",
                        "run `invokeai-py server down` for this instance, then start it again.",
                    )
            else:
                stale = read_state(self.paths.state_file)
                if stale is not None and is_invokeai_web(stale.pid):
                    running = server_version(stale.url)
                    if running is not None:
                        raise LocalServerError(
                            "start",
                            f"instance {self.paths.instance!r} runs InvokeAI {running} at {stale.url}, "
                            f"not {self.invokeai_version}",
                            f"run `invokeai-py server --instance {self.paths.instance} down` first, "
                            "or use another instance name.",
                        )
                    raise LocalServerError(
                        "start",
                        f"invokeai-web pid {stale.pid} from {self.paths.state_file} runs but does not answer at {stale.url}",
                        "run `invokeai-py server down` (it stops that PID) and retry.",
                    )
                remove_state(self.paths.state_file)
                self.provision()
                url = self._start()
            if install_models and not self.multiuser:
                self.install_tiny_models(url)
        return url

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.paths.instance_dir.mkdir(parents=True, exist_ok=True)
        with (self.paths.instance_dir / ".server.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _start(self) -> str:
        paths = self.paths
        paths.root.mkdir(parents=True, exist_ok=True)
        port = choose_port(paths.root, instance_port(paths.instance))
        yaml = invokeai_yaml(port, version=self.invokeai_version, multiuser=self.multiuser)
        (paths.root / "invokeai.yaml").write_text(yaml, encoding="utf-8")
        self._record_version()
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        env.pop("INVOKEAI_PORT", None)
        env.pop("INVOKEAI_HOST", None)
        description = f"Starting invokeai-web on port {port}"
        self.progress.step("start", description)
        logger.info("%s (root %s, log %s)", description, paths.root, paths.log_file)
        started = time.monotonic()
        with paths.log_file.open("wb") as log:
            try:
                process = subprocess.Popen(
                    [str(paths.invokeai_web), "--root", str(paths.root)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=str(paths.root),
                    # Its own session: Ctrl-C in the caller's terminal does not reach it.
                    start_new_session=True,
                )
            except OSError as exc:
                raise LocalServerError("start", f"could not run {paths.invokeai_web}: {exc}", "run `invokeai-py server provision`") from exc
        self._process = process
        try:
            port = self._wait_ready(process, port)
        except BaseException:
            self._kill(process)
            raise
        url = f"http://127.0.0.1:{port}"
        remember_port(paths.root, port)
        write_state(
            paths.state_file,
            ServerState(pid=process.pid, port=port, url=url, started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        )
        seconds = time.monotonic() - started
        logger.info("server ready at %s (pid %d) in %.1f s", url, process.pid, seconds)
        self.progress.done("start", seconds, skipped=False)
        return url

    def _wait_ready(self, process: subprocess.Popen[bytes], port: int) -> int:
        """Wait until the server answers its version; returns the port it really took."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalServerError(
                    "start",
                    f"invokeai-web exited with {process.returncode} while starting. "
                    f"Log tail ({self.paths.log_file}):\n{log_tail(self.paths.log_file)}",
                    "fix the cause shown in the log; re-provision if the venv is damaged.",
                )
            log_text = self.paths.log_file.read_text(encoding="utf-8", errors="replace")
            # If the port was taken between our check and its bind, InvokeAI silently
            # moves to the next free one and only logs it; its "running on" line is the
            # truth. Until that line, a server answering on the port may be another one.
            moved = port_moved_in_log(log_text)
            if moved is not None and moved != port:
                logger.warning("port %d was taken; the server moved to %d", port, moved)
            actual = running_port_in_log(log_text)
            version = server_version(f"http://127.0.0.1:{actual}", timeout=1.0) if actual else None
            if actual is not None and version is not None:
                if version != self.invokeai_version:
                    raise LocalServerError(
                        "start",
                        f"port {actual} answers InvokeAI {version}, not our {self.invokeai_version} server",
                        "stop the other server or free the port and retry.",
                    )
                return actual
            time.sleep(0.25)
        raise LocalServerError(
            "start",
            f"invokeai-web did not answer within {self.start_timeout:.0f} s. "
            f"Log tail ({self.paths.log_file}):\n{log_tail(self.paths.log_file)}",
            "read the log; a slow disk may need a longer start_timeout.",
        )

    # -- models -------------------------------------------------------------------
    @staticmethod
    def _list_models(url: str) -> list[dict[str, Any]]:
        with _client(url) as client:
            return [m.to_dict() for m in client.dnn_model_repo.list_models()]

    def install_tiny_models(self, url: str) -> list[dict[str, Any]]:
        """Install the tiny models that are not installed (matched by name), in place.

        Returns the server's records of the five models.
        """
        try:
            installed = {m["name"]: m for m in self._list_models(url)}
            missing = [n for n in tiny_models.NAMES if n not in installed]
            if not missing:
                self.progress.done("install-models", 0.0, skipped=True)
                return [installed[n] for n in tiny_models.NAMES]
            records = {
                str(r["name"]): r for r in Provisioner(self.paths, self.progress).build_tiny_models(missing)
            }
            self.progress.step("install-models", f"Installing models: {', '.join(missing)}")
            started = time.monotonic()
            with _client(url) as client:
                for name in missing:
                    self._install_one(client, name, str(records[name]["source"]))
            self.progress.done("install-models", time.monotonic() - started, skipped=False)
            installed = {m["name"]: m for m in self._list_models(url)}
        except InvokeAIError as exc:
            raise LocalServerError("install-models", f"talking to {url} failed: {exc}", "check the server log") from exc
        absent = [n for n in tiny_models.NAMES if n not in installed]
        if absent:
            raise LocalServerError("install-models", f"not listed after install: {', '.join(absent)}")
        return [installed[n] for n in tiny_models.NAMES]

    @staticmethod
    def _install_one(client: InvokeAIClient, name: str, source: str) -> None:
        try:
            # inplace (the repository's default) registers the files where they are.
            client.dnn_model_repo.install_model(source, inplace=True).wait(timeout=INSTALL_TIMEOUT)
        except ModelInstallTimeoutError as exc:
            raise LocalServerError("install-models", f"installing {name} did not finish in {INSTALL_TIMEOUT:.0f} s") from exc
        except ModelInstallError as exc:
            raise LocalServerError(
                "install-models",
                f"installing {name} from {source} failed: {exc}",
                f"delete {Path(source)} (it is rebuilt) and run `invokeai-py server up` again.",
            ) from exc
        logger.info("installed %s from %s", name, source)

    # -- stop ---------------------------------------------------------------------
    def down(self) -> bool:
        """Stop the server this home's state file names; True if one was stopped.

        Only that PID is signalled, and only if it is an invokeai-web process.
        """
        if not self.paths.state_file.exists():
            return False
        with self._locked():
            return self._down()

    def _down(self) -> bool:
        state = read_state(self.paths.state_file)
        if state is None:
            return False
        stopped = False
        if is_invokeai_web(state.pid):
            logger.info("stopping invokeai-web pid %d", state.pid)
            self.progress.step("stop", f"Stopping invokeai-web (pid {state.pid})")
            started = time.monotonic()
            self._terminate(state.pid)
            self.progress.done("stop", time.monotonic() - started, skipped=False)
            stopped = True
        else:
            logger.info("pid %d in the state file is not running invokeai-web", state.pid)
        remove_state(self.paths.state_file)
        return stopped

    def _terminate(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, self.stop_timeout):
            logger.warning("pid %d ignored SIGTERM for %.0f s; sending SIGKILL", pid, self.stop_timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10.0)

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Reap our own child, or it lingers as a zombie.
            if self._process is not None and self._process.pid == pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=0.1)
            if process_cmdline(pid) is None:
                return True
            time.sleep(0.1)
        return False

    def _kill(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


