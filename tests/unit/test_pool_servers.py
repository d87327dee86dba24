"""The pool's servers as the command line reads them (pure: no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from invokeai_py_client import ValidationError
from invokeai_py_client.cli.main import build_parser
from invokeai_py_client.cli.pool import instance_names, read_servers
from invokeai_py_client.pipelines.pool import PoolServer, ServerPool


def test_urls_then_a_file_of_urls(tmp_path: Path) -> None:
    listed = tmp_path / "servers.txt"
    listed.write_text("# the farm\nhttp://gpu2:9090\n\nhttp://gpu3:9090\n", encoding="utf-8")
    servers = read_servers(["http://gpu1:9090"], listed)
    assert [s.url for s in servers] == ["http://gpu1:9090", "http://gpu2:9090", "http://gpu3:9090"]


def test_a_json_file_gives_names_and_credentials(tmp_path: Path) -> None:
    listed = tmp_path / "servers.json"
    listed.write_text('["http://a:9090", {"url": "http://b:9090", "name": "b", "token": "t"}]', encoding="utf-8")
    assert read_servers(None, listed) == [PoolServer("http://a:9090"), PoolServer("http://b:9090", name="b", token="t")]
    listed.write_text('[{"uri": "http://b:9090"}]', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"servers\.json"):
        read_servers(None, listed)
    with pytest.raises(ValidationError, match="cannot be read"):
        read_servers(None, tmp_path / "missing.txt")


def test_refine_takes_url_again_and_an_outage_deadline() -> None:
    args = build_parser().parse_args(["refine", "x", "--url", "http://a:9090", "--server", "http://b:9090"])
    assert args.url == ["http://a:9090", "http://b:9090"]
    assert args.outage_deadline == 60.0  # the pool's default
    args = build_parser().parse_args(["refine", "x", "--url", "http://a:9090", "--outage-deadline", "15"])
    assert args.outage_deadline == 15.0


@pytest.mark.parametrize("bad", ["0", "-3", "soon", "nan"])
def test_an_outage_deadline_must_be_seconds_above_zero(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["refine", "x", "--outage-deadline", bad])
    assert f"--outage-deadline: {bad!r} is not a number of seconds above 0" in capsys.readouterr().err


def test_server_up_takes_instances() -> None:
    args = build_parser().parse_args(["server", "up", "--instances", "3"])
    assert args.instances == 3 and instance_names(3) == ["pool-1", "pool-2", "pool-3"]
    with pytest.raises(ValidationError):
        instance_names(0)


def test_a_pool_needs_servers_with_distinct_names() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        ServerPool([])
    with pytest.raises(ValidationError, match="distinct names"):
        ServerPool([PoolServer("http://127.0.0.1:1", name="x"), PoolServer("http://127.0.0.1:2", name="x")],
                   use_events=False)
