"""The `nzeza` command. Argument handling only: every command calls into the library.

Each command group lives in its own module here with a `register(subparsers)` function. Group
modules import nothing heavy at module level (no vectorbt, ccxt or jupyter), so `nzeza --help`
stays fast; handlers import what they need when they run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nzeza import __version__
from nzeza.errors import NzezaError

# Order here is the order in `nzeza --help`.
GROUPS = (
    "demo",
    "config",
    "data",
    "research",
    "session",
    "feeds",
    "trading",
    "ops",
    "pipeline",
    "promote",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nzeza",
        description="nzeza: research → validate → paper → live, for crypto strategies.",
    )
    parser.add_argument("--version", action="version", version=f"nzeza {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        module = importlib.import_module(f"nzeza.cli.{group}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except NzezaError as exc:
        print(f"nzeza: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: stop quietly, as other tools do
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
