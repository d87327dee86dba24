"""`invokeai-py server provision|up|down|status|url`: the local InvokeAI server.

Progress goes to stderr; `up` and `url` print the base URL as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.status import Status

from ..server import INVOKEAI_VERSION, LocalServer, LocalServerError
from ..server.releases import RELEASES


class RichProgress:
    """Draws the library's progress on stderr: a spinner per step, a line when done."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None
        self._description = ""

    def step(self, name: str, description: str) -> None:
        self._stop()
        self._description = description
        self._status = self.console.status(f"[bold]{description}[/]")
        self._status.start()

    def detail(self, text: str) -> None:
        if self._status is not None:
            self._status.update(f"[bold]{self._description}[/]\n  [dim]{text[:110]}[/]")

    def done(self, name: str, seconds: float, *, skipped: bool) -> None:
        self._stop()
        if not skipped:
            self.console.print(f"[green]✓[/] {self._description} [dim]({seconds:.1f} s)[/]")

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _server(args: argparse.Namespace, console: Console) -> LocalServer:
    return LocalServer(
        args.home, instance=args.instance, invokeai_version=args.invokeai_version, progress=RichProgress(console)
    )


def _provision(args: argparse.Namespace, server: LocalServer, console: Console) -> int:
    server.provision()
    console.print(f"provisioned InvokeAI {server.invokeai_version} under {server.home}")
    return 0


def _up(args: argparse.Namespace, server: LocalServer, console: Console) -> int:
    if getattr(args, "instances", None):
        from .pool import instances_up

        urls = instances_up(args.instances, args.home, args.invokeai_version)
        print("\n".join(urls))  # one per line: `--url` each for a run over all of them
        return 0
    url = server.up()
    print(url)
    return 0


def _down(args: argparse.Namespace, server: LocalServer, console: Console) -> int:
    if getattr(args, "instances", None):
        from .pool import instances_down

        console.print(f"stopped {instances_down(args.instances, args.home)} instance(s)")
        return 0
    if server.down():
        console.print("stopped")
    else:
        console.print("nothing was running")
    return 0


def _url(args: argparse.Namespace, server: LocalServer, console: Console) -> int:
    url = server.url()
    if url is None:
        console.print("not running")
        return 1
    print(url)
    return 0


def _status(args: argparse.Namespace, server: LocalServer, console: Console) -> int:
    status = server.status()
    if args.json:
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(status).items()}
        print(json.dumps(data, indent=2))
        return 0 if status.running else 1
    if not status.running:
        print(f"not running (home {status.home})")
        return 1
    print(f"running: pid {status.pid}, {status.url}, InvokeAI {status.version}, since {status.started_at}")
    print(f"home: {status.home}")
    for model in status.models:
        print(f"  {model['name']:<24} {model['base']:<14} {model['type']}")
    return 0


Action = Callable[[argparse.Namespace, LocalServer, Console], int]
ACTIONS: dict[str, tuple[Action, str]] = {
    "provision": (_provision, "install InvokeAI (6.14.2 unless --invokeai-version) into its venv and build the tiny models"),
    "up": (_up, "start the server (provisioning first if needed); prints its URL"),
    "down": (_down, "stop the server that `up` started"),
    "status": (_status, "say what is running"),
    "url": (_url, "print the running server's URL, or exit 1"),
}


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    action, _ = ACTIONS[args.action]
    try:
        return action(args, _server(args, console), console)
    except LocalServerError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=False)
        return 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("server", help="the local InvokeAI server for tests and demos")
    parser.add_argument("--home", type=Path, default=None, help="default: $INVOKEAI_PY_HOME or ~/.cache/invokeai-py-client")
    parser.add_argument("--instance", default="default", help="a separate server sharing the home's models")
    parser.add_argument(
        "--invokeai-version",
        default=None,
        help=f"InvokeAI release to install/run ({', '.join(RELEASES)}); default: the instance's last one, else {INVOKEAI_VERSION}",
    )
    # The same options after the action too (`server up --instance X`); absent there, the
    # value given before the action (or its default) stands.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--instance", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--invokeai-version", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, (_, help_text) in ACTIONS.items():
        sub = actions.add_parser(name, help=help_text, parents=[common])
        if name == "status":
            sub.add_argument("--json", action="store_true", help="machine-readable output")
        if name in ("up", "down"):
            sub.add_argument("--instances", type=int, default=None, metavar="N",
                             help="instances pool-1..pool-N instead (each its own port), e.g. for a run over a pool")
    parser.set_defaults(func=run)
