"""A portfolio session in the ledger, on SQLite and PostgreSQL: one session holds every
instrument's fills and positions and one cash balance; recovery rebuilds it; the equity
snapshots carry gross and net exposure (`exposure_curve`)."""

from __future__ import annotations

import numpy as np

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine.portfolio_replay import replay_portfolio
from nzeza.engine.recovery import rebuild
from nzeza.ops.risksettings import RiskSettings
from nzeza.strategies import CrossSectionalMomentum


def test_a_portfolio_session_round_trips_through_the_ledger(ledger) -> None:
    panel = load_sample("bitstamp_1d").iloc[-200:]
    strategy = CrossSectionalMomentum(top=1, lookback=10, rebalance=1)
    result = replay_portfolio(
        strategy, panel, Costs(0.001, 0.0005), ledger=ledger, session_id="pf", equity_every=1,
        risk=RiskSettings(max_symbol_exposure="60%"),
    )  # fmt: skip
    assert len(ledger.fills("pf")) == len(result.orders) > 5
    rec = rebuild(ledger, "pf", list(result.instruments.values()))
    snap = rec.portfolio.snapshot()
    for sym, inst in result.instruments.items():
        assert float(snap.position(inst.id).quantity) == result.positions[sym].iloc[-1]
    assert rec.last_bar_ts == int(panel.index[-1].value)
    curve = ledger.exposure_curve("pf")
    assert len(curve) == len(panel)
    equity = np.array([float(r[1]) for r in curve])
    gross = np.array([float(r[3]) for r in curve]) / equity
    np.testing.assert_allclose(equity, result.equity, rtol=1e-9)
    np.testing.assert_allclose(gross, result.exposure.abs().sum(axis=1), rtol=1e-9, atol=1e-12)
    assert gross.max() <= 0.6 * 1.3  # the per-symbol cap (one symbol held), then price moves
    clipped = [e for e in ledger.risk_events("pf") if e["check_name"] == "instrument_exposure"]
    assert clipped and len(clipped) == len([r for r in result.refused if "clipped" in r["reason"]])


def test_a_session_on_two_venues_round_trips_through_the_ledger(ledger_url, tmp_path) -> None:
    """Each fill's venue, the session's venues and every venue's account survive a restart on
    either database (`tests/engine/test_portfolio_venues.py` runs the session)."""
    import asyncio

    from engine.test_portfolio_venues import VENUES, run

    from nzeza.engine.portfolio_session import venue_accounts
    from nzeza.store import Ledger

    first, _ = asyncio.run(run(tmp_path, "mv", limit=3000, url=ledger_url))
    report, session = asyncio.run(run(tmp_path, "mv", url=ledger_url))
    assert first.fills > 0 and report.resumed and report.fills > 0
    with Ledger(ledger_url) as led:
        fills = led.fills("mv")
        config = led.session("mv")["config"]
        assert {f.instrument_id.split(":")[0] for f in fills} == set(VENUES.values())
        assert all(f.trade_id.startswith(f.instrument_id.split(":")[0] + ":") for f in fills)
        assert '"venues"' in config
        rebuilt = venue_accounts(session.cfg, led.fills("mv"))
    assert {v: a.snapshot() for v, a in rebuilt.items()} == {
        v: a.snapshot() for v, a in session.accounts.items()
    }
