"""`nzeza` commands of the trading group: `nzeza kill` for now."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to `sub`."""
    kill = sub.add_parser(
        "kill",
        help="engage the kill switch: running sessions stop sending orders at their next event",
    )
    kill.add_argument(
        "--file", default=None, help="kill file the sessions watch (default: runs/KILL)"
    )
    kill.add_argument("--reason", default="nzeza kill", help="one line recorded in the file")
    kill.set_defaults(handler=_kill)


def _kill(args: argparse.Namespace) -> int:
    from nzeza.risk.killswitch import DEFAULT_KILL_FILE, write_kill_file

    path = write_kill_file(args.file or DEFAULT_KILL_FILE, args.reason)
    print(f"kill switch engaged: wrote {path}")
    return 0
