"""`nzeza paper|live|replay` flags: every bad value is one clear error naming the flag and the
value, before anything starts or is written (a negative or zero --cash started a session, a
--session-id with ../ wrote its log outside runs/logs, --metrics-port 99999 crashed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def nzeza(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    full["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "nzeza.cli", *args],
        cwd=tmp,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _same_number(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return x == y or (x != x and y != y)  # nan is nan


PAPER = ["paper", "--strategy", "sma_cross", "--ledger", "sqlite:///l.sqlite"]


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--cash", "-1000"),
        ("--cash", "0"),
        ("--cash", "1e300"),
        ("--cash", "nan"),
        ("--cash", "inf"),
        ("--fee", "-0.001"),
        ("--fee", "0.5"),
        ("--slippage", "nan"),
        ("--metrics-port", "99999"),
        ("--metrics-port", "-1"),
        ("--pace", "-1"),
        ("--pace", "nan"),
        ("--vol-target", "0"),
        ("--vol-lookback", "1"),
        ("--timeframe", "0s"),
        ("--symbol", "BTC USDT"),
        ("--order-type", "iceberg"),
    ],
)
def test_a_bad_number_is_refused_naming_the_flag(tmp_path, flag, value) -> None:
    out = nzeza(tmp_path, *PAPER, "--session-id", "flags", f"{flag}={value}")
    assert out.returncode == 2, (out.returncode, out.stdout[-500:], out.stderr[-500:])
    shown = out.stderr.split(f"invalid {flag}=", 1)[-1].split(":", 1)[0].strip("'")
    assert f"invalid {flag}=" in out.stderr, out.stderr
    assert shown == value or _same_number(shown, value), (shown, value)
    assert "Traceback" not in out.stderr
    assert "starting" not in out.stdout  # nothing started
    assert not (tmp_path / "l.sqlite").exists()  # nothing written


@pytest.mark.parametrize("sid", ["../../x", "a/b", "", "x" * 65, ".hidden", "a b", "é"])
def test_an_unsafe_session_id_is_refused_and_nothing_is_written(tmp_path, sid) -> None:
    work = tmp_path / "work"
    work.mkdir()
    out = nzeza(work, *PAPER, "--session-id", sid)
    assert out.returncode == 2, (out.stdout[-500:], out.stderr[-500:])
    assert "invalid --session-id=" in out.stderr and "Traceback" not in out.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [], written


def test_cash_is_refused_in_live_mode(tmp_path) -> None:
    out = nzeza(tmp_path, "live", "--strategy", "sma_cross", "--cash", "1e9")
    assert out.returncode == 2
    assert "invalid --cash=" in out.stderr and "sizes from the account" in out.stderr


def test_replay_validates_its_numbers_too(tmp_path) -> None:
    out = nzeza(tmp_path, "replay", "--strategy", "sma_cross", "--cash", "-5")
    assert out.returncode == 2 and "invalid --cash=" in out.stderr


def test_a_bad_order_policy_is_refused_naming_the_flag(tmp_path) -> None:
    for extra, flag in (
        (["--order-type", "limit", "--offset", "0.9"], "--offset"),
        (["--order-type", "limit", "--ttl", "0"], "--ttl"),
        (["--offset", "0.001"], "--order-type"),
    ):
        out = nzeza(tmp_path, *PAPER, "--session-id", "flags", *extra)
        assert out.returncode == 2 and f"invalid {flag}=" in out.stderr, out.stderr[-500:]
        assert not (tmp_path / "l.sqlite").exists()


def test_a_paper_session_places_limit_orders_from_the_command_line(tmp_path) -> None:
    from nzeza.store import Ledger

    out = nzeza(
        tmp_path,
        *("paper", "--strategy", "support.toy_strategies:SmaLike", "--params", "short=true"),
        *("--timeframe", "5s", "--session-id", "lim", "--ledger", "sqlite:///l.sqlite"),
        *("--venue-db", "v.sqlite", "--order-type", "limit", "--offset", "0.0002", "--ttl", "3"),
        *("--maker-fee", "0.0002", "--taker-fee", "0.001"),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        intents = ledger.intents("lim")
        fills = ledger.fills("lim")
        record = ledger.session("lim")
    assert intents and {i["order_type"] for i in intents} == {"limit"}
    assert fills and all(i["price"] is not None for i in intents)
    config = json.loads(record["config"])
    assert config["orders"] == {"kind": "limit", "offset": 0.0002, "ttl": 3}
    assert config["maker"] == 0.0002 and config["fee"] == 0.001


def test_a_paper_session_with_fees_venue_records_its_rates(tmp_path) -> None:
    """`--fees dydx` on a session: the record holds dYdX's base-tier rates as if typed; a
    session without it keeps today's single default rate (fees never follow the venue)."""
    from nzeza.store import Ledger

    run = ("paper", "--strategy", "support.toy_strategies:SmaLike", "--timeframe", "5s")
    configs = {}
    for name, extra in (("dydx", ("--fees", "dydx")), ("plain", ())):
        db = ("--ledger", f"sqlite:///{name}.sqlite", "--venue-db", f"{name}-venue.sqlite")
        out = nzeza(tmp_path, *run, *db, "--session-id", name, *extra)
        assert out.returncode == 0, out.stderr[-2000:]
        with Ledger(f"sqlite:///{tmp_path / f'{name}.sqlite'}") as ledger:
            configs[name] = json.loads(ledger.session(name)["config"])
            fills = ledger.fills(name)
        assert fills  # market orders: takers, each paying the taker rate
        rate = 0.0005 if name == "dydx" else 0.001
        assert all(
            abs(f.fee / (f.quantity * f.price) - Decimal(str(rate))) < Decimal("1e-9")
            for f in fills
        )
    assert (configs["dydx"]["maker"], configs["dydx"]["fee"]) == (0.0001, 0.0005)
    assert configs["plain"]["fee"] == 0.001 and "maker" not in configs["plain"]


def test_a_leverage_above_the_default_position_limit_is_said_at_start() -> None:
    """3× on a perpetual meets the default 150 % position limit: the session says so before it
    starts (the risk engine would cut every full-size order without a word at the prompt)."""
    from decimal import Decimal

    from nzeza.cli.run import leverage_note
    from nzeza.engine.runner import PerpTerms
    from nzeza.ops.risksettings import RiskSettings

    defaults = RiskSettings()
    note = leverage_note(PerpTerms("binance", leverage=Decimal(3)), defaults)
    assert note is not None and "max_position_notional 150%" in note
    assert "max_order_notional 250%" in note and "recorded in the ledger" in note
    # within the limits, loosened, or spot: nothing to say
    assert leverage_note(PerpTerms("binance", leverage=Decimal("1.5")), defaults) is None
    loose = RiskSettings(max_position_notional="400%", max_order_notional="800%")
    assert leverage_note(PerpTerms("binance", leverage=Decimal(3)), loose) is None
    assert leverage_note(None, defaults) is None


@pytest.mark.parametrize("threshold, hinted", [(0.0, True), (float("inf"), False)])
def test_windowed_parity_says_how_long_it_took_and_the_strategys_share(
    tmp_path, monkeypatch, capsys, threshold, hinted
) -> None:
    """`nzeza parity --windowed` (the promotion gate's check) prints its bars and time and the
    strategy's calls (one per bar, plus the backtest's), and above the per-call time that marks
    a slow call points at the fast indicators; the threshold is set here so that the test
    never depends on the machine's speed. The timer leaves the strategy as it found it."""
    from nzeza.cli import main
    from nzeza.cli import session as cli_session

    monkeypatch.setenv("NZEZA_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    monkeypatch.setattr(cli_session, "SLOW_CALL_US", threshold)
    assert main(["parity", "sma_cross", "--bars", "300", "--windowed"]) == 0
    out = capsys.readouterr().out
    assert "PARITY OK" in out and "windowed: 300 bars in " in out
    assert "the strategy's target: 301 calls, " in out and " µs a call)" in out
    assert ("nzeza.strategies.indicators" in out) is hinted
    assert main(["parity", "sma_cross", "--bars", "300"]) == 0  # not windowed: no timing line
    assert "windowed:" not in capsys.readouterr().out


def test_the_call_timer_restores_the_object() -> None:
    from nzeza.cli.session import CallTimer
    from nzeza.strategies import SmaCross

    s = SmaCross()
    with CallTimer(s, "target") as timer:
        assert "target" in vars(s)
    assert "target" not in vars(s) and timer.calls == 0
    own = lambda bars: bars  # noqa: E731 - an instance attribute of its own is put back
    s.target = own
    with CallTimer(s, "target"):
        assert s.target is not own
    assert s.target is own
