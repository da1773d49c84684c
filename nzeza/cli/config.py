"""`nzeza config show|check|fees`."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show or check the effective settings")
    cs = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = cs.add_parser("show", help="print the effective settings, secrets masked")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=_show)
    check = cs.add_parser("check", help="validate the settings; non-zero exit with the reasons")
    check.add_argument("--live", action="store_true", help="also check every live-trading gate")
    check.set_defaults(handler=_check)
    fees = cs.add_parser(
        "fees", help="print the venues' published maker/taker fee schedules (--fees VENUE)"
    )
    fees.add_argument("--json", action="store_true", help="machine-readable output")
    fees.set_defaults(handler=_fees)


def _fees(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from nzeza.domain.fees import SCHEDULES, fee_table

    if args.json:
        rows = {}
        for name, s in SCHEDULES.items():
            row = asdict(s)
            row["confirmed_below"] = (
                None if s.confirmed_below == float("inf") else s.confirmed_below
            )
            rows[name] = row
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    print(fee_table())
    return 0


def _show(args: argparse.Namespace) -> int:
    from nzeza.ops.settings import describe, load_settings
    from nzeza.secrets import redact

    data = describe(load_settings(require_live=False))
    if args.json:
        print(redact(json.dumps(data, indent=2, default=str)))
        return 0
    width = max(len(k) for k in data)
    lines: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            inner = max((len(k) for k in value), default=0)
            lines.extend(f"  {k:{inner}s} {v}" for k, v in value.items())
        else:
            lines.append(f"{key:{width}s} {value}")
    # describe() masks what it knows to be secret; the redactor is the last line of defence
    print(redact("\n".join(lines)))
    return 0


def _check(args: argparse.Namespace) -> int:
    from nzeza.errors import NzezaError
    from nzeza.ops.settings import Mode, load_settings

    try:
        settings = load_settings(require_live=True if args.live else None)
    except NzezaError as exc:
        print(f"config check failed: {exc}", file=sys.stderr)
        return 1
    live = " (live gates pass)" if args.live or settings.mode is Mode.LIVE else ""
    print(f"config ok: profile={settings.profile} mode={settings.mode}{live}")
    return 0


__all__ = [
    "register",
]
