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
from nzeza.errors import NzezaError, clip

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
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):  # output piped into `head`: stop quietly
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        print(f"nzeza: error: {clip(os_error(exc), 500)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        print(f"nzeza: error: ledger: {clip(_first_line(exc), 500)}", file=sys.stderr)
        return 2


def os_error(exc: OSError) -> str:
    """One line for an operating-system error: what failed, on which file, and for a full disk
    what to do (a session stopped by it resumes from its ledger)."""
    import errno

    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    if exc.errno == errno.ENOSPC:
        return (
            f"disk full{where}: free space and run the same command again (a session "
            "resumes from its ledger; nothing after the last committed bar was recorded)"
        )
    return f"{exc.strerror or exc}{where}"


def _is_database_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("sqlalchemy") and any(
        k.__name__ == "DatabaseError" for k in type(exc).__mro__
    )


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["GROUPS", "build_parser", "main", "os_error"]
