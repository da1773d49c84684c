"""Every shipped pipeline spec (`pipelines/*.yaml`) runs with its parallel workers and every
run is ok. The spec files run as shipped, with parameter overrides only to keep them short;
the notebooks come from their source (see tests/support/notebook_source.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.notebook_source import ROOT, source_project

from nzeza.pipeline import load_spec
from nzeza.store import Ledger

SHIPPED = sorted((ROOT / "pipelines").glob("*.yaml"))
# shorter data windows: the same code paths, a minute instead of half an hour
SHORT = {
    "research": ["last_bars=3000", "train=1000", "test=500"],
}


def run(spec: Path, out: Path, extra: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "nzeza.cli", "pipeline", "run", str(spec), "--output", str(out)]
    for item in extra:
        cmd += ["-p", item]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def test_every_shipped_spec_is_covered() -> None:
    assert {p.stem for p in SHIPPED} >= {"paper", "research"}


# the paper spec runs (twice, in parallel) in test_paper_pipeline_runs_never_share_a_session
@pytest.mark.parametrize("shipped", [p for p in SHIPPED if p.stem != "paper"], ids=lambda p: p.stem)
def test_shipped_pipeline_runs_ok_in_parallel(shipped: Path, tmp_path: Path) -> None:
    project = source_project(tmp_path / "project")
    spec_path = project / "pipelines" / shipped.name
    spec = load_spec(spec_path)
    assert spec.workers >= 2 and len(spec.runs()) >= 2  # parallel runs, as shipped
    extra = [*SHORT.get(shipped.stem, []), f"verdict_dir={tmp_path / 'verdicts'}"]
    out = tmp_path / "out"
    proc = run(spec_path, out, extra)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    index = json.loads((out / "index.json").read_text())
    assert len(index["runs"]) == len(spec.runs())
    assert all(r["status"] == "ok" for r in index["runs"]), index["runs"]


def test_paper_pipeline_runs_never_share_a_session(tmp_path: Path) -> None:
    """Two executions of the paper pipeline, two parallel sessions each: four sessions, each
    with its own ledger holding its fills and a verified audit chain (the shipped spec failed
    with "disk I/O error" and "invalid fast=10" when its runs shared one session id and ledger
    file, and deleted each other's files)."""
    project = source_project(tmp_path / "project")
    spec_path = project / "pipelines" / "paper.yaml"
    out = tmp_path / "out"
    spec = load_spec(spec_path)
    assert spec.workers >= 2 and len(spec.runs()) >= 2  # parallel runs, as shipped
    ids = []
    for _ in range(2):
        proc = run(spec_path, out, [])
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        index = json.loads((out / "index.json").read_text())
        assert len(index["runs"]) == len(spec.runs())
        assert all(r["status"] == "ok" for r in index["runs"]), index["runs"]
        ids += [(r["params"]["strategy"], r["params"]["session_id"]) for r in index["runs"]]
    assert len({sid for _, sid in ids}) == 4
    for strategy, sid in ids:
        assert sid.startswith(f"paper-{strategy}-")
        with Ledger(f"sqlite:///{out / 'sessions' / f'{sid}.sqlite'}") as ledger:
            (session,) = ledger.sessions()
            assert session["session_id"] == sid and session["strategy"] == strategy
            assert ledger.fills(sid)
            assert ledger.verify_audit().ok
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [(h["ok"], h["failed"]) for h in history] == [(2, 0), (2, 0)]
