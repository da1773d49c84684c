"""`nzeza demo`: the longest end-to-end path that exists, on bundled data."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on bundled data")
    p.add_argument("--out", default=None, help="output folder (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="smaller grids, for a fast look")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from nzeza.demo import run_demo

    return run_demo(out=args.out, quick=args.quick)


__all__ = [
    "register",
]
