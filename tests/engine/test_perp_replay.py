"""Perpetual replay == perpetual backtest: funding amounts exact, liquidations trade for trade."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from support.perp_cases import (
    ALWAYS,
    FUNDING_BARS,
    FUNDING_CASH,
    FUNDING_RATES,
    HOUR,
    LIQ_BARS,
    LIQ_CASH,
    LIQ_FEE,
    LIQ_LEVERAGE,
    LIQ_PRICE,
    START,
    Scripted,
    btc_perp,
)

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine import replay
from nzeza.research.perp import backtest_perp
from nzeza.store import Ledger
from nzeza.strategies import BollingerReversion

NO_COSTS = Costs(0.0, 0.0)
D = Decimal


def same_trades(rep, bt, rtol: float = 1e-9) -> None:
    a, b = rep.trades, bt.trades
    assert len(a) == len(b)
    for col in ("side", "status", "exit_reason"):
        assert a[col].tolist() == b[col].tolist(), col
    for col in ("entry_time", "exit_time"):
        assert list(pd.to_datetime(a[col], utc=True)) == list(b[col]), col
    for col in ("entry_price", "exit_price", "size", "fees", "pnl"):
        np.testing.assert_allclose(a[col].astype(float), b[col], rtol=rtol, err_msg=col)


@pytest.mark.parametrize(("target", "expected"), [(1.0, D(-10)), (-1.0, D(10))])
def test_funding_case_replay_equals_backtest_and_books_it(tmp_path, target, expected) -> None:
    strat = Scripted([target] * 5)
    spec = btc_perp()
    bt = backtest_perp(strat, FUNDING_BARS, spec, NO_COSTS, FUNDING_CASH, funding=FUNDING_RATES)
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as led:
        rep = replay(
            strat, FUNDING_BARS, NO_COSTS, FUNDING_CASH, perp=spec, funding=FUNDING_RATES,
            ledger=led, session_id="rf",
        )  # fmt: skip
        [entry] = led.funding_entries("rf")
        assert entry["amount"] == expected  # exactly, in Decimal
        assert entry["ts"] == (START + 2 * HOUR).value
        assert led.balances("rf")["USD"] == D(FUNDING_CASH) - D(2 * target * 50_000) + expected
        assert led.verify_audit().ok
    assert rep.funding["amount"].tolist() == [expected]
    assert float(expected) == bt.funding_events["amount"].iloc[0]
    same_trades(rep, bt)
    np.testing.assert_array_equal(rep.equity.to_numpy(), bt.equity.to_numpy())


def test_liquidation_case_replay_equals_backtest(tmp_path) -> None:
    strat = Scripted([1.0] * 5)
    spec, costs = btc_perp(), Costs(LIQ_FEE, 0.0)
    bt = backtest_perp(strat, LIQ_BARS, spec, costs, LIQ_CASH, leverage=LIQ_LEVERAGE)
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as led:
        rep = replay(
            strat, LIQ_BARS, costs, LIQ_CASH, perp=spec, leverage=LIQ_LEVERAGE, ledger=led,
            session_id="rl",
        )  # fmt: skip
        [mark] = led.liquidations("rl")
        fills = led.fills("rl")
        assert fills[-1].order_id == mark["client_order_id"]
        assert mark["ts"] == LIQ_BARS.index[3].value
        # 9,000 × 1.0004 / 0.995, up to q = 1 / 1.0004 on the replay's 1e-18 lot grid
        assert abs(Decimal(mark["price"]) - D(9_000) * D("1.0004") / D("0.995")) < D("1e-12")
        assert led.verify_audit().ok
    same_trades(rep, bt, rtol=1e-12)
    assert rep.trades["exit_reason"].tolist() == ["liquidation"]
    assert float(rep.trades["exit_price"].iloc[0]) == pytest.approx(LIQ_PRICE, rel=1e-15)
    np.testing.assert_allclose(rep.equity.to_numpy(), bt.equity.to_numpy(), rtol=1e-12)


def test_a_perp_replay_on_a_sample_equals_the_backtest_trade_for_trade() -> None:
    bars = load_sample("btc_usd_1h").iloc[-1500:]
    strategy = BollingerReversion(window=20, k=2.0)
    costs = Costs(0.0005, 0.0002)
    rates = pd.Series(
        np.where(np.arange(len(bars[::8])) % 3, 0.0001, -0.0003), index=bars.index[::8]
    )
    # 10× on a 5 % maintenance rate: some positions are liquidated
    spec = btc_perp(mmr="0.04")
    bt = backtest_perp(strategy, bars, spec, costs, 10_000, leverage=10, funding=rates)
    rep = replay(strategy, bars, costs, 10_000, perp=spec, leverage=10, funding=rates)
    assert len(bt.liquidations) > 0 and len(bt.funding) > 10
    same_trades(rep, bt)
    np.testing.assert_allclose(rep.funding["amount"].astype(float), bt.funding, rtol=1e-9)
    np.testing.assert_allclose(rep.equity.to_numpy(), bt.equity.to_numpy(), rtol=1e-9)


def test_replay_command_with_perp_flags(tmp_path) -> None:
    import subprocess
    import sys

    bars = tmp_path / "bars.csv"
    LIQ_BARS.rename_axis("timestamp").to_csv(bars)
    funding = tmp_path / "funding.csv"
    pd.DataFrame({"ts": [LIQ_BARS.index[2]], "funding_rate": [0.001]}).to_csv(funding)
    (tmp_path / "always.py").write_text(ALWAYS)
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "replay", "--strategy", "always.py:Always",
         "--data", str(bars), "--perp", "binance", "--funding", str(funding), "--leverage", "10",
         "--fee", str(LIQ_FEE), "--slippage", "0", "--cash", "1000", "--ledger", url],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "perpetual (binance, 10×): 1 funding payments" in out.stdout
    assert "liquidations: 1" in out.stdout
    with Ledger(url) as led:
        [sid] = [row["session_id"] for row in led.sessions()]
        assert len(led.liquidations(sid)) == 1 and len(led.funding_entries(sid)) == 1
    status = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "status", "--ledger", url],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    paid = 9_200 / 1.0004 * 0.001
    assert f"perpetual: 1 funding payments, paid {paid:.2f}" in status.stdout, status.stdout
    assert "liquidations 1" in status.stdout
