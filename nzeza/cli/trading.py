"""`nzeza` commands of the trading group (filled in by the issue that builds the layer)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to `sub`."""
