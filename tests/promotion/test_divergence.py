"""`nzeza divergence SESSION`: a recorded paper session against the research backtest of the
bars it saw, end to end through the CLI, and its section in the HTML report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nzeza.notebook.report import Report
from nzeza.promotion import divergence
from nzeza.store import Ledger

ROOT = Path(__file__).resolve().parents[2]


def nzeza(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")} | (env or {})
    env.setdefault("PYTHONPATH", str(ROOT))
    env.update(NZEZA_RUNS_DIR=str(tmp / "runs"))
    return subprocess.run(
        [sys.executable, "-m", "nzeza.cli", *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("div")
    url = f"sqlite:///{tmp / 'ledger.sqlite'}"
    out = nzeza(
        tmp,
        *("paper", "--strategy", "sma_cross", "--params", "fast=5", "slow=20"),
        *("--timeframe", "5s", "--session-id", "p1", "--ledger", url),
        *("--venue-db", str(tmp / "venue.sqlite")),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return tmp, url


def test_divergence_of_a_session_that_ran_as_researched(session) -> None:
    tmp, url = session
    out = nzeza(tmp, "divergence", "p1", "--ledger", url, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["session_id"] == "p1" and doc["timeframe"] == "5s"
    assert doc["research_orders"] > 3 and doc["matched"] == doc["research_orders"]
    assert doc["missed"] == doc["extra"] == 0
    assert abs(doc["gap"]) < 1e-6 * doc["init_cash"] and doc["main_cause"] == "none (no gap)"
    assert set(doc["attribution"]) == {"slippage", "fees", "latency", "trades"}


def test_divergence_against_cheaper_research_costs_names_the_slippage(session) -> None:
    """Research assumed 1 bp of slippage; the paper venue charged the session's 5 bps."""
    tmp, url = session
    out = nzeza(tmp, "divergence", "p1", "--ledger", url, "--slippage", "0.0001", "--fills", "3")
    assert out.returncode == 0, out.stderr
    assert "slippage 5.00 bps realised vs 1.00 assumed (excess +4.00)" in out.stdout
    assert "main cause: slippage" in out.stdout
    assert "slippage_bps" in out.stdout  # the fill table


def test_divergence_names_an_unknown_session_and_a_bad_flag(session) -> None:
    tmp, url = session
    out = nzeza(tmp, "divergence", "nope", "--ledger", url)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "nope" in out.stderr and "is not in the ledger" in out.stderr
    out = nzeza(tmp, "divergence", "p1", "--ledger", url, "--fee", "-1")
    assert out.returncode == 2 and "--fee" in out.stderr


def test_divergence_takes_maker_and_taker_fees_like_the_other_commands(session) -> None:
    tmp, url = session
    out = nzeza(tmp, "divergence", "p1", "--ledger", url, "--taker-fee", "0.002", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    # research (final − session final) paid twice the session's taker fee: below the session
    assert doc["gap"] < 0 and doc["main_cause"] == "fees"
    out = nzeza(tmp, "divergence", "p1", "--ledger", url, "--maker-fee", "-1")
    assert out.returncode == 2 and "--maker-fee" in out.stderr and "Traceback" not in out.stderr


def test_divergence_takes_a_venue_schedule(session) -> None:
    """`--fees coinbase` (taker 1.2 %, twelve times the session's 0.1 %): research pays more,
    the gap is the fees; `--fees dydx` (0.05 %) pays less, research ends above the session."""
    tmp, url = session
    docs = {}
    for venue in ("coinbase", "dydx"):
        out = nzeza(tmp, "divergence", "p1", "--ledger", url, "--fees", venue, "--json")
        assert out.returncode == 0, out.stderr
        docs[venue] = json.loads(out.stdout)
    assert docs["coinbase"]["gap"] < 0 < docs["dydx"]["gap"]
    assert docs["coinbase"]["main_cause"] == docs["dydx"]["main_cause"] == "fees"
    out = nzeza(tmp, "divergence", "p1", "--ledger", url, "--fees", "dydx", "--fee", "0.001")
    assert out.returncode == 2 and "invalid --fees=" in out.stderr and "Traceback" not in out.stderr


def test_recorded_costs_keep_the_maker_fee_the_session_ran_with() -> None:
    from nzeza.domain import Costs
    from nzeza.engine.runner import session_record
    from nzeza.promotion.divergence import recorded_costs, recorded_policy

    two = session_record("capture:x", "BTCUSDT", "5s", Costs(maker=0.0002, taker=0.001), 1e4)
    one = session_record("capture:x", "BTCUSDT", "5s", Costs(0.001, 0.0005), 1e4)
    assert two["maker"] == 0.0002 and "maker" not in one  # older records stay as they were
    assert recorded_costs(two).maker == 0.0002 and recorded_costs(two).fee == 0.001
    assert recorded_costs(one).maker == 0.001
    assert recorded_costs(two, maker=-0.0001).maker == -0.0001
    assert recorded_policy(one) is None
    policy = recorded_policy({"orders": {"kind": "limit", "offset": 0.001, "ttl": 2}})
    assert policy is not None and policy.kind == "limit" and policy.ttl == 2


def test_the_html_report_has_a_divergence_section(session, tmp_path) -> None:
    _, url = session
    with Ledger(url) as ledger:
        report = divergence(ledger, "p1")
    rep = Report("session")
    rep.divergence(report)
    html = rep.write(tmp_path / "r.html").read_text()
    assert "Divergence from research" in html
    for component in ("slippage", "fees", "latency", "trades", "gap (research"):
        assert f"<td>{component}" in html
    assert "latency_ms" in html


def test_divergence_of_a_strategy_not_rebuilt_from_its_recorded_params_is_named(tmp_path) -> None:
    """`SmaLike` records its class attribute `params` ({fast, slow}) but is built from `short`:
    `cls(**params)` raised a raw TypeError. Now a typed error names the strategy and the
    params; `--params` gives the construction parameters and the divergence runs."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    out = nzeza(
        tmp_path,
        *("paper", "--strategy", "support.toy_strategies:SmaLike", "--params", "short=true"),
        *("--timeframe", "5s", "--session-id", "toy", "--ledger", url),
        *("--venue-db", str(tmp_path / "venue.sqlite")),
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    out = nzeza(tmp_path, "divergence", "toy", "--ledger", url, env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "support.toy_strategies:SmaLike" in out.stderr
    assert '"fast":5' in out.stderr.replace(" ", "") and "--params" in out.stderr
    out = nzeza(tmp_path, "divergence", "toy", "--ledger", url, "--params", "short=true", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "divergence of paper session toy" in out.stdout and "0 missed, 0 extra" in out.stdout
