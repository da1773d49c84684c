"""`nzeza promote` shows progress for its long gates (lookahead cuts, the windowed replay) on
stderr; what it prints on stdout and records is unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_promote_shows_progress_of_its_long_gates(tmp_path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nzeza.cli",
            "promote",
            str(ROOT / "notebooks" / "04_session.ipynb"),
            "--to",
            "paper",
            "--bars",
            "400",
            "--ledger",
            f"sqlite:///{tmp_path / 'l.sqlite'}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 1, out.stderr  # refused: no recorded verdict
    assert "lookahead" in out.stderr and "cut" in out.stderr
    assert "replay" in out.stderr and "400/400" in out.stderr
    assert "PASS lookahead" in out.stdout and "PASS parity" in out.stdout
    assert "lookahead" not in out.stdout.split("PASS lookahead")[0]


def test_a_live_promotion_names_its_venue(tmp_path, monkeypatch, capsys) -> None:
    import os

    from nzeza.cli import main

    for key in list(os.environ):
        if key.startswith("NZEZA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    nb = str(ROOT / "notebooks" / "04_session.ipynb")
    assert main(["promote", nb, "--to", "live"]) == 2
    err = capsys.readouterr().err
    assert "--venue" in err and "NZEZA_LIVE_VENUE" in err and "Traceback" not in err
