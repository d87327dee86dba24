"""Provisioning steps resume from their markers; the CLI's server commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from invokeai_py_client.cli.main import build_parser, main
from invokeai_py_client.server import ProvisionError, ServerPaths
from invokeai_py_client.server.provision import Provisioner


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, bool]] = []

    def step(self, name: str, description: str) -> None:
        self.events.append(("step", name, False))

    def detail(self, text: str) -> None:
        pass

    def done(self, name: str, seconds: float, *, skipped: bool) -> None:
        self.events.append(("done", name, skipped))


def test_a_finished_step_is_skipped_and_a_changed_one_reruns(tmp_path: Path) -> None:
    progress = Recorder()
    provisioner = Provisioner(ServerPaths(tmp_path), progress)
    runs: list[str] = []
    provisioner._step("pip", "install", {"req": "a==1"}, lambda: runs.append("a==1"))
    provisioner._step("pip", "install", {"req": "a==1"}, lambda: runs.append("again"))
    provisioner._step("pip", "install", {"req": "a==2"}, lambda: runs.append("a==2"))
    assert runs == ["a==1", "a==2"]
    assert ("done", "pip", True) in progress.events


def test_a_failed_step_leaves_no_marker(tmp_path: Path) -> None:
    provisioner = Provisioner(ServerPaths(tmp_path))

    def fail() -> None:
        raise ProvisionError("pip", "boom", "retry")

    with pytest.raises(ProvisionError, match=r"\[pip\] boom"):
        provisioner._step("pip", "install", {"req": "a"}, fail)
    runs: list[int] = []
    provisioner._step("pip", "install", {"req": "a"}, lambda: runs.append(1))
    assert runs == [1]


def test_a_failing_command_names_its_step_and_keeps_its_output(tmp_path: Path) -> None:
    provisioner = Provisioner(ServerPaths(tmp_path))
    argv = ["sh", "-c", "echo 'ERROR: No matching distribution found for invokeai==9'; exit 1"]
    with pytest.raises(ProvisionError) as info:
        provisioner._run("invokeai", argv, hint=lambda out: "hint: " + out[-20:])
    assert info.value.step == "invokeai"
    assert "No matching distribution" in str(info.value)
    assert info.value.hint.startswith("hint: ")


def test_pip_failures_get_a_useful_hint() -> None:
    from invokeai_py_client.server.provision import _diagnose_pip

    assert "registry" in _diagnose_pip("Failed to establish a new connection: [Errno 111]")
    assert "disk" in _diagnose_pip("OSError: [Errno 28] No space left on device")


def test_disk_check_fails_clearly_when_space_is_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import invokeai_py_client.server.provision as provision

    monkeypatch.setattr(provision, "REQUIRED_FREE_BYTES", 1 << 60)
    with pytest.raises(ProvisionError, match="INVOKEAI_PY_HOME") as info:
        Provisioner(ServerPaths(tmp_path)).check_disk_space()
    assert info.value.step == "disk"


def test_cli_has_the_server_group() -> None:
    parser = build_parser()
    for action in ("provision", "up", "down", "status", "url"):
        args = parser.parse_args(["server", action])
        assert args.command == "server" and args.action == action and callable(args.func)


@pytest.mark.parametrize(
    "argv",
    [["server", "--instance", "v600", "up"], ["server", "up", "--instance", "v600"],
     ["server", "--instance", "other", "up", "--instance", "v600"]],
)
def test_cli_takes_the_instance_before_or_after_the_action(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.action, args.instance) == ("up", "v600")


def test_cli_url_and_status_exit_1_when_nothing_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "--home", str(tmp_path), "url"]) == 1
    assert main(["server", "--home", str(tmp_path), "status"]) == 1
    assert "not running" in capsys.readouterr().out
    assert main(["server", "--home", str(tmp_path), "down"]) == 0
    assert list(tmp_path.iterdir()) == []
