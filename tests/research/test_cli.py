"""The research commands, as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nzeza.cli.research import parse_grid
from nzeza.errors import ValidationError


def nzeza(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nzeza.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_grid_specs() -> None:
    assert parse_grid(["fast=5:20:5", "slow=40,80"]) == {"fast": [5, 10, 15, 20], "slow": [40, 80]}
    with pytest.raises(ValidationError):
        parse_grid(["fast=5:20:0"])


def test_backtest_and_validate_commands(tmp_path) -> None:
    out = nzeza(
        "backtest",
        "sma_cross",
        "--params",
        "fast=10",
        "slow=30",
        "--last",
        "3000",
        "--html",
        str(tmp_path / "r.html"),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "sharpe" in out.stdout and (tmp_path / "r.html").stat().st_size > 100_000
    out = nzeza(
        "validate",
        "sma_cross",
        "--grid",
        "fast=5,10",
        "slow=40,80",
        "--last",
        "6000",
        "--train",
        "2000",
        "--test",
        "1000",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "VERDICT:" in out.stdout
    assert list((tmp_path / "runs" / "verdicts").glob("sma_cross-*.json"))


def test_bad_strategy_and_params_are_named() -> None:
    out = nzeza("backtest", "nope")
    assert out.returncode == 2 and "strategy" in out.stderr and "Traceback" not in out.stderr
    out = nzeza("backtest", "sma_cross", "--params", "fast=50", "slow=10")
    assert out.returncode == 2 and "slow" in out.stderr and "Traceback" not in out.stderr
