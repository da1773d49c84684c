"""Research integrity for portfolio strategies (issue 17): lookahead on the weights, sweeps
registered as trials of the panel's group, walk-forward with a verdict, the CLI commands."""

from __future__ import annotations

import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research import UnregisteredRunWarning, check_lookahead, sweep
from nzeza.research.portfolio import backtest_portfolio, sweep_portfolio
from nzeza.research.trials import data_fingerprint, timeframe_of
from nzeza.store import Ledger
from nzeza.store.trials import TrialGroup, group_rows, groups
from nzeza.strategies import CrossSectionalMomentum, PortfolioStrategy, SmaCross
from nzeza.strategies.identity import class_path
from nzeza.strategies.portfolio import panel_field


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_sample("bitstamp_1d")


class PeekingMomentum(PortfolioStrategy):
    """Test double: long ETH on the bars before its close rises (it reads the next close)."""

    def target_weights(self, panel: pd.DataFrame) -> pd.DataFrame:
        close = panel_field(panel, "close")
        out = pd.DataFrame(0.0, index=panel.index, columns=close.columns)
        out["ETH"] = (close["ETH"].shift(-1) > close["ETH"]).astype(float)
        return out


def test_lookahead_refuses_a_peeking_portfolio_strategy_naming_bar_and_symbol(panel) -> None:
    report = check_lookahead(PeekingMomentum(), panel, n_cuts=20)
    assert not report.ok
    assert report.symbol == "ETH"
    cut = report.cut_at
    assert cut is not None and report.first_offending_timestamp == cut  # the cut's own bar
    # on the full history the weight at that bar knew the next close; truncated it could not
    close = panel[("ETH", "close")]
    i = panel.index.get_loc(cut)
    assert report.full_value == float(close.iloc[i + 1] > close.iloc[i])
    assert report.truncated_value == 0.0
    assert "LOOKAHEAD" in str(report) and "weight of ETH" in str(report)


def test_lookahead_passes_the_shipped_portfolio_strategy(panel) -> None:
    for params in ({}, {"lookback": 30, "top": 2, "rebalance": 7}):
        report = check_lookahead(CrossSectionalMomentum(**params), panel, n_cuts=20)
        assert report.ok, str(report)
        assert report.symbol is None


def test_lookahead_command_on_a_panel(capsys) -> None:
    from nzeza.cli import main

    capsys.readouterr()
    code = main(["lookahead", "cross_sectional_momentum", "--sample", "bitstamp_1d"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "bitstamp_1d (BTC, ETH, LTC)" in out and "lookahead check passed" in out


# -- sweeps --------------------------------------------------------------------------------------
COSTS = Costs(0.001, 0.0005)
GRID = {"lookback": [10, 20], "top": [1, 2], "rebalance": [5]}


@pytest.fixture
def ledger(tmp_path):
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as led:
        yield led


@pytest.fixture(scope="module")
def recent(panel) -> pd.DataFrame:
    return panel.iloc[-400:]  # all three symbols trade here


def test_sweep_rows_equal_single_backtests_and_register_the_panel_group(recent, ledger) -> None:
    table = sweep_portfolio(
        CrossSectionalMomentum, recent, GRID, COSTS, progress=False, ledger=ledger
    )
    assert table.attrs["n_trials"] == 4 and table.attrs["registered"]
    assert list(table["sharpe"]) == sorted(table["sharpe"], reverse=True)
    group = TrialGroup(
        class_path(CrossSectionalMomentum), data_fingerprint(recent), timeframe_of(recent)
    )
    reg = table.attrs["registration"]
    assert reg.group == group and reg.group_was_new and reg.distinct == 4
    rows = group_rows(ledger, group)
    assert len(rows) == 4 and {r["source"] for r in rows} == {"sweep"}
    for _, row in table.iterrows():
        params = {k: int(row[k]) for k in GRID}
        single = backtest_portfolio(CrossSectionalMomentum(**params), recent, COSTS, ledger=ledger)
        for col in ("total_return", "sharpe", "max_drawdown", "final_equity", "exposure"):
            assert row[col] == pytest.approx(single.stats[col], rel=1e-12, abs=1e-15), col
        assert row["trades"] == single.stats["trades"]
        # the same configuration backtested again is no new trial of the group
        assert single.registration.new == 0 and single.registration.distinct == 4


def test_sweep_registration_is_explicit_and_single_sweeps_refuse_portfolios(recent, ledger):
    with pytest.warns(UnregisteredRunWarning):
        table = sweep_portfolio(
            CrossSectionalMomentum, recent, GRID, COSTS, progress=False, register=False
        )
    assert table.attrs["registration"] is None and not table.attrs["registered"]
    with pytest.raises(ValidationError) as err:
        sweep(CrossSectionalMomentum, recent, GRID)
    assert err.value.field == "strategy_cls" and "sweep_portfolio" in err.value.reason
    with pytest.raises(ValidationError) as err:
        sweep_portfolio(SmaCross, recent, {"fast": [5]}, ledger=ledger)
    assert err.value.field == "strategy_cls"
    with pytest.raises(ValidationError) as err:
        sweep_portfolio(CrossSectionalMomentum, recent, {"nope": [1]}, ledger=ledger)
    assert err.value.field == "grid[nope]"
    assert group_rows(ledger, table_group(recent)) == []  # nothing registered by the refusals


def table_group(panel: pd.DataFrame) -> TrialGroup:
    return TrialGroup(
        class_path(CrossSectionalMomentum), data_fingerprint(panel), timeframe_of(panel)
    )


def test_sweep_command_on_a_panel(tmp_path, capsys) -> None:
    from nzeza.cli import main

    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    capsys.readouterr()
    code = main(
        ["sweep", "cross_sectional_momentum", "--sample", "bitstamp_1d", "--last", "400",
         "--grid", "lookback=10,20", "top=1,2", "rebalance=5", "--ledger", url]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "4 combinations tried" in out and "NEW GROUP" in out and "lookback" in out
    code = main(
        ["sweep", "cross_sectional_momentum", "--sample", "bitstamp_1d", "--scheduler",
         "processes", "--ledger", url]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2 and "--scheduler" in captured.err and "Traceback" not in captured.err


# -- walk-forward and verdict ----------------------------------------------------------------------
def test_walk_forward_chooses_in_sample_runs_out_of_sample_and_records_a_verdict(panel, tmp_path):
    """A grid of 4 walked forward on the last 600 bars, then `nzeza validate` of a grid of one
    on the same bars: deflated by the group's 4 trials, not by 1."""
    from nzeza.cli import main
    from nzeza.research import load_verdicts, walk_forward
    from nzeza.research.portfolio import panel_window

    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    bars = panel.iloc[-600:]
    wf = walk_forward(
        CrossSectionalMomentum, bars, GRID, 200, 100, costs=COSTS, progress=False, ledger=url
    )
    assert len(wf.windows) == 4 and wf.combinations == 4
    assert wf.registration.group == table_group(bars) and wf.registration.distinct == 4
    # window 0: the parameters with the best in-sample Sharpe on its training panel ...
    with pytest.warns(UnregisteredRunWarning):
        train = sweep_portfolio(
            CrossSectionalMomentum, panel_window(bars, 0, 200), GRID, COSTS, progress=False,
            register=False,
        )  # fmt: skip
    w0 = wf.windows.iloc[0]
    assert {k: int(w0[k]) for k in GRID} == {k: int(train.iloc[0][k]) for k in GRID}
    assert w0["in_sample_sharpe"] == pytest.approx(train.iloc[0]["sharpe"], rel=1e-12)
    # ... traded on the next 100 bars after its warm-up, shared cash; the returns stitched
    chosen = CrossSectionalMomentum(**{k: int(w0[k]) for k in GRID})
    lead = chosen.warmup
    with pytest.warns(UnregisteredRunWarning):
        oos = backtest_portfolio(chosen, bars.iloc[200 - lead : 300], COSTS, register=False)
    expected = oos.equity.pct_change().iloc[-100:]
    assert wf.returns.iloc[:100].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-12)
    assert wf.returns.index.equals(bars.index[200:600])
    v = wf.judged
    assert v.decision in {"KILL", "ITERATE", "SCALE"} and v.id is not None
    assert v.metrics["n_trials"] == 4 and v.metrics["group"]["dataset"] == data_fingerprint(bars)

    # the grid of one after the sweep: counted with the group's 4 trials, no new trial
    code = main(
        ["validate", "cross_sectional_momentum", "--sample", "bitstamp_1d", "--last", "600",
         "--grid", f"lookback={int(w0['lookback'])}", f"top={int(w0['top'])}", "rebalance=5",
         "--train", "200", "--test", "100", "--fee", "0.001", "--slippage", "0.0005",
         "--ledger", url]
    )  # fmt: skip
    assert code == 0
    with Ledger(url) as led:
        assert len(group_rows(led, table_group(bars))) == 4  # nothing new registered
        assert len(groups(led)) == 1  # the folds' sweeps and backtests are not trials
    recorded = load_verdicts(CrossSectionalMomentum, ledger=url)
    assert len(recorded) == 2 and recorded[-1]["n_trials"] == 4


def test_validate_command_prints_the_verdict_and_live_promotion_stays_refused(tmp_path, capsys):
    from nzeza.cli import main
    from nzeza.promotion.gates import promote

    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    capsys.readouterr()
    code = main(
        ["validate", "cross_sectional_momentum", "--sample", "bitstamp_1d", "--last", "500",
         "--grid", "lookback=10,20", "top=1", "rebalance=5", "--ledger", url]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "walk-forward windows: train 200 bars, test 100 bars" in out  # fitted to 500 bars
    assert "VERDICT:" in out and "2 registered trial(s)" in out
    assert "lookahead check passed" in out
    # a live promotion must name every symbol the session trades (one symbol is refused); paper
    # runs its gates on a panel (tests/promotion/test_portfolio_promotion.py), never on one
    # symbol's bars
    with pytest.raises(ValidationError) as err:
        promote(
            "notebooks/03_validate.ipynb", "live", strategy="cross_sectional_momentum",
            ledger=url, bars=load_sample("bitstamp_1d").iloc[-300:], venue="binance",
        )  # fmt: skip
    assert err.value.field == "symbol" and "names every symbol" in err.value.reason
    with pytest.raises(ValidationError) as err:
        promote(
            "notebooks/03_validate.ipynb", "paper", strategy="cross_sectional_momentum",
            ledger=url, bars=load_sample("btc_usd_1h").iloc[-300:],
        )  # fmt: skip
    assert err.value.field == "bars"
