"""Portfolio replay (issue 17): the engine runs a portfolio strategy across the symbols of a panel
in one session with shared cash, and equals `backtest_portfolio` order for order."""

from __future__ import annotations

import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine.portfolio_parity import compare_portfolio
from nzeza.engine.portfolio_replay import panel_instruments, replay_portfolio
from nzeza.engine.rebalance import size_weight
from nzeza.research.portfolio import backtest_portfolio
from nzeza.store import Ledger
from nzeza.strategies import CrossSectionalMomentum, PortfolioStrategy

COSTS = Costs(0.001, 0.0005)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_sample("bitstamp_1d")


@pytest.fixture
def ledger(tmp_path):
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as led:
        yield led


class SeededWeights(PortfolioStrategy):
    """Test double: seeded random long/short weights, new every `every` bars (calendar-free, so
    the weights of a bar depend on its row number within the panel only through the seed):
    sells, buys, shorts and flips on one bar; gross up to ~2, scaled down to max_gross."""

    seed: int = 0
    every: int = 3

    def target_weights(self, panel: pd.DataFrame) -> pd.DataFrame:
        symbols = list(dict.fromkeys(panel.columns.get_level_values(0)))
        rng = np.random.default_rng(self.seed)
        raw = rng.uniform(-0.7, 0.7, size=(len(panel), len(symbols)))
        raw[rng.uniform(size=raw.shape) < 0.2] = 0.0
        out = pd.DataFrame(raw, index=panel.index, columns=symbols)
        keep = np.arange(len(panel)) % self.every != 0
        out[keep] = np.nan
        return out.ffill().fillna(0.0)


class PeeksAhead(PortfolioStrategy):
    """Test double: all in the symbol whose next close rises most (uses the future)."""

    def target_weights(self, panel: pd.DataFrame) -> pd.DataFrame:
        close = pd.DataFrame(
            {s: panel[(s, "close")] for s in dict.fromkeys(panel.columns.get_level_values(0))}
        )
        best = (close.shift(-1) / close - 1).fillna(-1).idxmax(axis=1)
        return pd.DataFrame({s: (best == s).astype(float) for s in close.columns})


def quiet_backtest(strategy, panel):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return backtest_portfolio(strategy, panel, COSTS, 10_000.0, register=False)


def assert_same_orders(research, engine) -> None:
    ro, eo = research.orders, engine.orders
    assert len(ro) == len(eo) > 10
    assert eo["time"].tolist() == ro["time"].tolist()
    assert eo["symbol"].tolist() == ro["symbol"].tolist()
    assert eo["side"].tolist() == ro["side"].tolist()
    np.testing.assert_allclose(eo["size"], ro["size"], rtol=1e-9, atol=0)
    np.testing.assert_allclose(eo["price"], ro["price"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(eo["fees"], ro["fees"], rtol=1e-9, atol=0)
    np.testing.assert_allclose(engine.equity, research.equity, rtol=1e-9, atol=0)


@pytest.mark.parametrize(
    "strategy",
    [
        CrossSectionalMomentum(top=2, lookback=60, rebalance=7),
        CrossSectionalMomentum(top=1, lookback=30, rebalance=1, absolute=False),
        SeededWeights(seed=3, every=3),
        SeededWeights(seed=5, every=1, max_gross=1.5, max_weight=0.7),
    ],
    ids=["momentum-top2", "momentum-daily", "random-long-short", "random-levered"],
)
def test_replay_equals_backtest_order_for_order(panel, strategy) -> None:
    research = quiet_backtest(strategy, panel)
    engine = replay_portfolio(strategy, panel, COSTS, 10_000.0)
    assert_same_orders(research, engine)
    np.testing.assert_allclose(engine.positions, research.positions, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(engine.exposure, research.exposure, rtol=1e-9, atol=1e-12)
    # sells before buys within every bar that has both
    for _, bar in engine.orders.groupby("time", sort=False):
        sides = bar["side"].tolist()
        assert sides == sorted(sides, key=lambda side: side == "buy")


def test_one_ledger_session_holds_every_symbol_and_shared_cash(panel, ledger) -> None:
    strategy = SeededWeights(seed=3, every=3)
    result = replay_portfolio(strategy, panel, COSTS, 10_000.0, ledger=ledger, session_id="pf-1")
    fills = ledger.fills("pf-1")
    assert len(fills) == len(result.orders)
    assert {f.instrument_id for f in fills} == {
        i.id for i in panel_instruments(["BTC", "ETH", "LTC"]).values()
    }
    positions = ledger.positions("pf-1")
    last = result.positions.iloc[-1]
    for sym, inst in result.instruments.items():
        recorded = positions.get(inst.id, {"quantity": Decimal(0)})["quantity"]
        assert float(recorded) == pytest.approx(last[sym], rel=1e-12, abs=1e-15)
    # one cash balance for the whole session; the recorded equity is the replay's
    assert set(ledger.balances("pf-1")) == {"USD"}
    _, eq = ledger.equity_curve("pf-1")[-1]
    assert float(eq) == pytest.approx(result.final_equity, rel=1e-9)
    intents = ledger.intents("pf-1")
    assert [i["seq"] for i in intents] == list(range(1, len(intents) + 1))  # one sequence
    assert len({i["client_order_id"] for i in intents}) == len(intents)


def test_windowed_replay_equals_backtest_for_a_strategy_without_lookahead(panel) -> None:
    part = panel.iloc[-300:]
    strategy = CrossSectionalMomentum(top=2, lookback=20, rebalance=1)
    assert compare_portfolio(strategy, part, COSTS, windowed=True).ok
    engine = replay_portfolio(strategy, part, COSTS, windowed=True)
    assert_same_orders(quiet_backtest(strategy, part), engine)


def test_parity_catches_a_strategy_that_looks_ahead(panel) -> None:
    part = panel.iloc[-200:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = compare_portfolio(PeeksAhead(), part, COSTS)
        windowed = compare_portfolio(PeeksAhead(), part, COSTS, windowed=True)
    assert full.ok  # the same (future-reading) weights on both sides
    assert not windowed.ok and "PARITY FAILED" in str(windowed)


def test_parity_catches_a_changed_engine_order(panel, monkeypatch) -> None:
    """The comparison is not vacuous: an engine that sizes a hair differently fails it."""
    import nzeza.engine.rebalance as rebalance

    def off(*args, **kwargs):
        sized = size_weight(*args, **kwargs)
        if sized is None:
            return None
        return type(sized)(sized.side, sized.quantity * Decimal("1.000001"), sized.reference_price)

    monkeypatch.setattr(rebalance, "size_weight", off)
    report = compare_portfolio(
        CrossSectionalMomentum(top=2, lookback=60, rebalance=7), panel, COSTS
    )
    assert not report.ok and any("sizes differ" in m for m in report.mismatches)


def test_size_weight_follows_the_research_rule() -> None:
    costs = Costs(0.001, 0.0005)
    # a buy the cash cannot pay shrinks to cash / (buy price × (1 + fee))
    sized = size_weight(Decimal(1), Decimal(0), Decimal(1000), Decimal(1000), Decimal(100), costs)
    assert sized is not None and sized.side == "buy"
    assert sized.quantity == Decimal(1000) / Decimal("1.001") / Decimal("100.05")
    # no cash: no buy; a sell is not cash-limited; a tiny delta is no order
    assert size_weight(Decimal(1), Decimal(0), Decimal(0), Decimal(100), Decimal(10), costs) is None
    sell = size_weight(Decimal(-1), Decimal(0), Decimal(0), Decimal(100), Decimal(10), costs)
    assert sell is not None and (sell.side, sell.quantity) == ("sell", Decimal(10))
    assert (
        size_weight(Decimal("0.5"), Decimal(5), Decimal(50), Decimal(100), Decimal(10), costs)
        is None
    )


# -- the CLI ----------------------------------------------------------------------------------
def in_process(capsys, *args: str) -> tuple[int, str, str]:
    from nzeza.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_replays_and_compares_a_portfolio_strategy(tmp_path, capsys, panel) -> None:
    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    code, out, err = in_process(
        capsys, "replay", "cross_sectional_momentum", "--sample", "bitstamp_1d",
        "--params", "top=2", "--ledger", ledger,
    )  # fmt: skip
    assert code == 0, err
    expected = quiet_backtest(CrossSectionalMomentum(top=2), panel)
    assert "(BTC, ETH, LTC; portfolio, shared cash)" in out
    assert f"final equity {expected.equity.iloc[-1]:,.2f}" in out
    assert f"{len(expected.orders)} fills" in out
    code, out, err = in_process(
        capsys, "parity", "cross_sectional_momentum", "--sample", "bitstamp_1d", "--params", "top=2"
    )
    assert code == 0 and "PARITY OK" in out and f"research {len(expected.orders):6d}" in out
    # refusals are typed and name the flag
    code, _, err = in_process(
        capsys, "replay", "cross_sectional_momentum", "--sample", "bitstamp_1d", "--symbol", "BTC"
    )
    assert code == 2 and "--symbol" in err and "Traceback" not in err
    code, _, err = in_process(
        capsys, "replay", "cross_sectional_momentum", "--strategy", "sma_cross",
        "--sample", "bitstamp_1d",
    )  # fmt: skip
    assert code == 2 and "--strategy" in err and "Traceback" not in err
    code, _, err = in_process(
        capsys, "replay", "cross_sectional_momentum", "--sample", "bitstamp_1d",
        "--vol-target", "0.5",
    )  # fmt: skip
    assert code == 2 and "--vol-target" in err
