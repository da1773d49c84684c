"""The engine's replay against vectorbt directly (independent of nzeza.research), and recovery."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from support.toy_strategies import SmaLike

from nzeza.domain import Costs
from nzeza.engine import replay, research_instrument
from nzeza.engine.recovery import rebuild
from nzeza.engine.sizing import size_target
from nzeza.store import Ledger

COSTS = Costs(0.001, 0.0005)


@pytest.mark.parametrize(
    "strategy", [SmaLike(), SmaLike(short=True, scale=0.5)], ids=["long_all_in", "long_short_half"]
)
def test_replay_matches_vectorbt_target_percent(hourly, strategy) -> None:
    import vectorbt as vbt

    t = strategy.target(hourly)
    size = t.where(t.diff().fillna(t) != 0).shift(1)  # change at close t -> order at open t+1
    pf = vbt.Portfolio.from_orders(
        hourly["close"],
        size=size,
        size_type="targetpercent",
        price=hourly["open"],
        fees=COSTS.fee,
        slippage=COSTS.slippage,
        init_cash=10_000,
        freq="1h",
    )
    ours = replay(strategy, hourly, COSTS, 10_000)
    assert len(ours.fills) == pf.orders.count() > 10
    assert ours.final_equity == pytest.approx(pf.final_value(), rel=1e-9)
    vt = pf.trades.records_readable  # closed trades, then the open one marked at the last close
    assert len(vt) == len(ours.trades)
    assert (ours.trades["status"] == vt["Status"].str.lower()).all()
    np.testing.assert_allclose(ours.trades["exit_price"], vt["Avg Exit Price"], rtol=1e-9)
    np.testing.assert_allclose(ours.trades["size"], vt["Size"], rtol=1e-9)
    np.testing.assert_allclose(ours.trades["entry_price"], vt["Avg Entry Price"], rtol=1e-9)
    np.testing.assert_allclose(ours.trades["pnl"], vt["PnL"], rtol=1e-6, atol=1e-9)
    assert (ours.trades["entry_time"].to_numpy() == vt["Entry Timestamp"].to_numpy()).all()
    np.testing.assert_allclose(ours.equity.to_numpy(), pf.value().to_numpy(), rtol=1e-9)


def test_windowed_equals_precomputed_for_a_clean_strategy(hourly) -> None:
    bars = hourly.iloc[:600]
    a = replay(SmaLike(short=True), bars, COSTS, 10_000, windowed=True)
    b = replay(SmaLike(short=True), bars, COSTS, 10_000, windowed=False)
    assert [f.quantity for f in a.fills] == [f.quantity for f in b.fills]
    assert a.final_equity == b.final_equity


def test_sizing_all_in_long_buys_cash_over_price_with_costs() -> None:
    order = size_target(Decimal(1), Decimal(0), Decimal(10_000), Decimal(100), COSTS)
    assert order is not None and order.side == "buy"
    expected = Decimal(10_000) / (1 + COSTS.fee_dec) / (Decimal(100) * (1 + COSTS.slippage_dec))
    assert abs(order.quantity - expected) < Decimal("1e-18")
    assert size_target(Decimal(0), Decimal(0), Decimal(10_000), Decimal(100), COSTS) is None


def test_recovery_rebuilds_the_portfolio_from_the_ledger(hourly, tmp_path) -> None:
    inst = research_instrument()
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        result = replay(
            SmaLike(),
            hourly.iloc[:800],
            COSTS,
            10_000,
            ledger=ledger,
            session_id="rec",
            instrument=inst,
        )
        rec = rebuild(ledger, "rec", inst)
    assert len(rec.fills) == len(result.fills)
    close = Decimal(repr(float(hourly["close"].iloc[799])))
    assert float(rec.portfolio.equity({inst.id: close})) == pytest.approx(
        result.final_equity, rel=1e-12
    )
    assert rec.last_seq == len(result.fills)
    assert rec.unfilled_intents == []
