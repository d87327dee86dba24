"""The local server's pure parts: yaml, state file, ports, constraints, torchvision patch."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from invokeai_py_client.server import LocalServer, ServerPaths, ServerState, tiny_models
from invokeai_py_client.server._common import (
    pick_free_port,
    port_is_free,
    port_moved_in_log,
    read_state,
    remove_state,
    write_state,
)
from invokeai_py_client.server.provision import (
    constraints_path,
    patch_torchvision_meta_registrations,
)
from invokeai_py_client.server.releases import invokeai_yaml

SAMPLE_META = '''\
@register_meta("roi_pool")
def meta_roi_pool(input, rois, spatial_scale, pooled_height, pooled_width):
    return input.new_empty(())


@torch.library.register_fake("torchvision::nms")
def meta_nms(dets, scores, iou_threshold):
    return dets.new_empty(0, dtype=torch.long)


@torch.library.register_fake("torchvision::qnms")
def meta_qnms(dets, scores, iou_threshold):
    return dets.new_empty(0, dtype=torch.long)
'''


def test_yaml_has_every_setting_the_server_needs() -> None:
    lines = invokeai_yaml(9123).splitlines()
    for expected in (
        "schema_version: 4.0.3",
        "host: 127.0.0.1",
        "port: 9123",
        "patchmatch: false",
        "log_format: plain",
        "device: cpu",
        "precision: float32",
    ):
        assert expected in lines


def test_state_file_round_trip_and_removal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "server.json"
    state = ServerState(pid=123, port=9090, url="http://127.0.0.1:9090", started_at="2026-01-01T00:00:00+00:00")
    write_state(path, state)
    assert read_state(path) == state
    assert json.loads(path.read_text())["url"] == "http://127.0.0.1:9090"
    remove_state(path)
    assert read_state(path) is None
    remove_state(path)  # absent: no error


@pytest.mark.parametrize("content", ["", "{not json", '{"pid": 1}', '{"pid": "x", "port": 1, "url": "u", "started_at": "t"}'])
def test_damaged_state_file_reads_as_absent(tmp_path: Path, content: str) -> None:
    path = tmp_path / "server.json"
    path.write_text(content)
    assert read_state(path) is None


def test_pick_free_port_avoids_a_busy_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert not port_is_free(taken)
        port = pick_free_port(taken)
        assert port != taken
        assert port_is_free(port)


def test_pick_free_port_keeps_a_free_preferred_port() -> None:
    port = pick_free_port()
    assert pick_free_port(port) == port


def test_moved_port_is_read_from_the_log() -> None:
    log = "[x][InvokeAI]::WARNING --> Port 9090 is already in use. Using port 9091.\nother line\n"
    assert port_moved_in_log(log) == 9091
    assert port_moved_in_log("nothing here") is None


def test_shipped_constraints_have_no_local_file_and_no_torch_pin() -> None:
    text = constraints_path().read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) > 100
    assert not [ln for ln in lines if "file:" in ln or " @ " in ln]
    names = {ln.split("==")[0].lower() for ln in lines}
    assert "torch" not in names
    assert "torchvision" not in names
    assert "invokeai" not in names
    assert "diffusers" in names


def test_torchvision_patch_guards_exactly_the_two_unguarded_decorators() -> None:
    patched, count = patch_torchvision_meta_registrations(SAMPLE_META)
    assert count == 2
    assert '@register_meta("roi_pool")' in patched
    assert patched.count("if torchvision.extension._has_ops() else (lambda fn: fn))") == 2
    assert "@torch.library.register_fake(\"torchvision::nms\")\n" not in patched
    assert len(patched.splitlines()) == len(SAMPLE_META.splitlines())
    compile(patched, "_meta_registrations.py", "exec")
    again, count_again = patch_torchvision_meta_registrations(patched)
    assert (again, count_again) == (patched, 0)


def test_patched_decorator_is_a_no_op_without_compiled_ops() -> None:
    patched, _ = patch_torchvision_meta_registrations(SAMPLE_META)

    class Extension:
        @staticmethod
        def _has_ops() -> bool:
            return False

    class Torchvision:
        extension = Extension

    class Library:
        @staticmethod
        def register_fake(name: str) -> object:
            raise AssertionError(f"registered {name}")

    class Torch:
        library = Library
        long = "long"

    namespace = {"torch": Torch, "torchvision": Torchvision, "register_meta": lambda name: (lambda fn: fn)}
    exec(compile(patched, "_meta_registrations.py", "exec"), namespace)
    assert callable(namespace["meta_nms"])


def test_paths_put_extra_instances_apart_but_share_venv_and_models(tmp_path: Path) -> None:
    default = ServerPaths(tmp_path)
    other = ServerPaths(tmp_path, "other")
    assert default.state_file == tmp_path / "server.json"
    assert default.log_file == tmp_path / "server.log"
    assert default.root == tmp_path / "root"
    assert default.venv == other.venv == tmp_path / "venv-6.14.2"
    assert default.models == other.models
    assert other.root != default.root
    assert other.state_file != default.state_file


def test_home_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOKEAI_PY_HOME", str(tmp_path))
    assert LocalServer().home == tmp_path


def test_nothing_running_in_an_empty_home(tmp_path: Path) -> None:
    server = LocalServer(tmp_path)
    assert server.url() is None
    assert server.status().running is False
    assert server.down() is False


def test_stale_state_file_is_not_a_running_server(tmp_path: Path) -> None:
    # A PID that is certainly not invokeai-web: this test process.
    import os

    write_state(tmp_path / "server.json", ServerState(os.getpid(), 1, "http://127.0.0.1:1", "t"))
    server = LocalServer(tmp_path)
    assert server.url() is None
    assert server.down() is False  # does not signal a process that is not invokeai-web
    assert not (tmp_path / "server.json").exists()


def test_tokenizer_vocab_is_a_clip_byte_level_bpe() -> None:
    vocab = tiny_models.clip_vocab()
    assert len(vocab) == tiny_models.vocab_size()
    assert sorted(vocab.values()) == list(range(len(vocab)))
    assert vocab["<|endoftext|>"] == len(vocab) - 1
    assert "a</w>" in vocab and "Ġ" in vocab
    files = tiny_models.tokenizer_files(pad_token="!")
    assert files["merges.txt"].startswith("#version: 0.2\n")
    for merge in files["merges.txt"].splitlines()[1:]:
        left, right = merge.split(" ")
        assert left in vocab and right in vocab and left + right in vocab


def test_manifest_detects_a_changed_file(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(b"abc")
    manifest = {"name": "m", "recipe": tiny_models.RECIPE_VERSION, "vae": "tiny", "files": tiny_models.file_hashes(model)}
    (model / tiny_models.MANIFEST).write_text(json.dumps(manifest))
    assert tiny_models.is_intact(model, "tiny")
    assert not tiny_models.is_intact(model, "kl")
    assert tiny_models.install_source(model) == model / "w.safetensors"
    (model / "w.safetensors").write_bytes(b"abd")
    assert not tiny_models.is_intact(model, "tiny")


def test_running_port_is_read_from_the_log() -> None:
    from invokeai_py_client.server._common import running_port_in_log

    log = "[t][InvokeAI]::INFO --> Invoke running on http://127.0.0.1:9091 (Press CTRL+C to quit)\n"
    assert running_port_in_log(log) == 9091
    assert running_port_in_log("starting...") is None


def test_an_instance_gets_its_previous_port_back_when_it_is_free(tmp_path: Path) -> None:
    import socket

    from invokeai_py_client.server._common import choose_port, remember_port

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        busy = held.getsockname()[1]
        assert choose_port(tmp_path, busy) != busy  # nothing remembered, the default taken: any free port
        remember_port(tmp_path, busy)
        assert choose_port(tmp_path, busy) != busy  # remembered but taken
    assert choose_port(tmp_path, 1) == busy  # remembered and free again: the same URL works after a restart
