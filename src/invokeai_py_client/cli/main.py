"""The `invokeai-py` command: a registry of subcommand modules.

Each module in `COMMANDS` has `register(subparsers)`, which adds its parser and sets
`func` (taking the parsed args, returning an exit code) as a default. Adding a
command is adding a module and one line here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Module names under invokeai_py_client.cli, each providing register(subparsers).
COMMANDS: tuple[str, ...] = ("server", "refine", "workflow")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invokeai-py", description="Drive InvokeAI from the command line.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
