"""`nzeza` commands of the trading group: `nzeza kill` (every session, or one)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to `sub`."""
    kill = sub.add_parser(
        "kill",
        help="engage the kill switch: running sessions (or the one named) stop sending orders "
        "at their next event",
    )
    kill.add_argument(
        "session",
        nargs="?",
        default=None,
        help="one session id (default: every session, through the global kill file)",
    )
    kill.add_argument(
        "--file", default=None, help="global kill file the sessions watch (default: runs/KILL)"
    )
    kill.add_argument("--reason", default="nzeza kill", help="one line recorded with the kill")
    kill.add_argument(
        "--release",
        action="store_true",
        help="with SESSION: release its kill switch so it may run (resume) again",
    )
    kill.add_argument("--ledger", default=None, help="ledger URL (default: settings)")
    kill.set_defaults(handler=_kill)


def _kill(args: argparse.Namespace) -> int:
    from nzeza.errors import ValidationError
    from nzeza.ops.settings import load_settings
    from nzeza.risk.killswitch import global_kill_file, write_kill_file

    settings = load_settings(require_live=False)
    if args.session is None:
        if args.release:
            raise ValidationError("--release", True, "needs a SESSION id")
        path = write_kill_file(args.file or global_kill_file(settings.runs_dir), args.reason)
        print(f"kill switch engaged: wrote {path}")
        return 0
    from nzeza.engine.lifecycle import check_session_id, kill_session, release_session
    from nzeza.store import open_ledger

    check_session_id(args.session, "session")
    with open_ledger(args.ledger) as ledger:
        if args.release:
            print(release_session(ledger, settings.runs_dir, args.session))
        else:
            print(kill_session(ledger, settings.runs_dir, args.session, args.reason))
    return 0


__all__ = [
    "register",
]
