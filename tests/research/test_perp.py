"""Perpetual backtests: funding and liquidation by hand, and the spot rule at leverage 1."""

from __future__ import annotations

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
    bars_of,
    btc_perp,
)

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research import backtest
from nzeza.research.perp import backtest_perp, funding_series, read_funding
from nzeza.strategies import BollingerReversion, SmaCross

NO_COSTS = Costs(0.0, 0.0)


@pytest.mark.parametrize(("target", "expected"), [(1.0, -10.0), (-1.0, 10.0)])
def test_long_2_btc_pays_10_and_the_short_receives_10(target, expected) -> None:
    strat = Scripted([target] * 5)
    result = backtest_perp(
        strat, FUNDING_BARS, btc_perp(), NO_COSTS, FUNDING_CASH, funding=FUNDING_RATES
    )
    events = result.funding_events
    assert list(events.index) == [START + 2 * HOUR]
    assert events["position"].iloc[0] == 2.0 * target
    assert events["mark"].iloc[0] == 50_000.0
    assert events["amount"].iloc[0] == expected  # exactly
    assert result.funding.sum() == expected
    assert result.funding_paid == max(-expected, 0.0)
    assert result.funding_received == max(expected, 0.0)
    # equity moves by the funding and nothing else (flat prices, no costs)
    assert result.equity.iloc[-1] == FUNDING_CASH + expected
    assert result.stats["funding_paid"] == max(-expected, 0.0)


def test_funding_uses_the_mark_series_when_given_and_skips_flat_times() -> None:
    rates = pd.Series([0.0001, 0.0002], index=[START, START + 3 * HOUR])
    mark = pd.Series([49_000.0, 51_000.0], index=[START, START + 2 * HOUR])
    result = backtest_perp(
        Scripted([1.0] * 5), FUNDING_BARS, btc_perp(), NO_COSTS, FUNDING_CASH,
        funding=rates, mark=mark,
    )  # fmt: skip
    events = result.funding_events
    # at bar 0 the position is still flat (bought at bar 1's open): nothing booked
    assert events["amount"].tolist() == [-20.4]  # 2 × 51,000 × 0.0002, in Decimal
    assert events["mark"].tolist() == [51_000.0]


def test_a_10x_long_is_liquidated_at_the_hand_computed_price() -> None:
    strat = Scripted([1.0] * 5)
    result = backtest_perp(
        strat, LIQ_BARS, btc_perp(), Costs(LIQ_FEE, 0.0), LIQ_CASH, leverage=LIQ_LEVERAGE
    )
    trades = result.trades
    assert len(trades) == 1
    trade = trades.iloc[0]
    assert trade["exit_reason"] == "liquidation"
    assert trade["status"] == "closed"
    assert trade["exit_time"] == LIQ_BARS.index[3]  # not at bar 2, whose low stays above
    assert trade["exit_price"] == pytest.approx(LIQ_PRICE, rel=1e-12)
    q = 1 / 1.0004
    assert trade["size"] == pytest.approx(q, rel=1e-12)
    liq = result.liquidations.iloc[0]
    assert liq["collateral"] == pytest.approx(q * 10_000 - 9_000, rel=1e-12)
    assert liq["fees"] == pytest.approx(q * LIQ_PRICE * LIQ_FEE, rel=1e-12)
    # what is left: maintenance margin minus the liquidation fee, and flat to the end
    left = -9_000 + q * LIQ_PRICE * (1 - LIQ_FEE)
    assert result.equity.iloc[3:].tolist() == pytest.approx([left] * 2, rel=1e-12)
    assert left == pytest.approx(0.005 * q * LIQ_PRICE - q * LIQ_PRICE * LIQ_FEE, rel=1e-9)
    assert result.stats["liquidations"] == 1
    # margin usage at 10×: notional / 10 / equity, > 90 % before the liquidation
    assert result.margin.iloc[2] == pytest.approx(q * 9_200 / 10 / result.equity.iloc[2])
    assert result.margin.iloc[3] == 0.0


def test_the_report_shows_liquidations_funding_and_margin() -> None:
    rates = pd.Series([0.001], index=[LIQ_BARS.index[2]], name="funding_rate")
    result = backtest_perp(
        Scripted([1.0] * 5), LIQ_BARS, btc_perp(), Costs(LIQ_FEE, 0.0), LIQ_CASH,
        leverage=LIQ_LEVERAGE, funding=rates,
    )  # fmt: skip
    fig = result.plot()
    names = {t.name: t for t in fig.data}
    # the funding paid at bar 2 (q × 9,200 × 0.1 %) left less collateral: liquidated higher,
    # at (9,000 + q × 9.2) / (q × 0.995) with q = 1 / 1.0004
    assert list(names["liquidation"].y) == pytest.approx([(9_000 * 1.0004 + 9.2) / 0.995])
    assert list(names["funding (cumulative)"].y) == [result.funding.iloc[0]]
    assert result.funding.iloc[0] == pytest.approx(-9_200 / 1.0004 * 0.001)
    assert max(names["margin usage %"].y) == pytest.approx(result.margin.max() * 100)
    assert "binance perpetual 10×" in fig.layout.title.text


def test_liquidated_position_stays_flat_until_the_target_changes() -> None:
    strat = Scripted([1.0, 1.0, 1.0, 1.0, 0.0])
    bars = pd.concat([LIQ_BARS, LIQ_BARS.iloc[[-1]].set_axis([LIQ_BARS.index[-1] + HOUR])])
    bars2 = pd.concat([bars, bars.iloc[[-1]].set_axis([bars.index[-1] + HOUR])])
    strat = Scripted([1.0, 1.0, 1.0, 1.0, 0.0, 0.5, 0.5])
    result = backtest_perp(
        strat, bars2, btc_perp(), Costs(LIQ_FEE, 0.0), LIQ_CASH, leverage=LIQ_LEVERAGE
    )
    reasons = result.trades["exit_reason"].tolist()
    assert reasons == ["liquidation", "open"]  # re-entered only when the target moved to 0.5
    assert result.trades["entry_time"].iloc[1] == bars2.index[6]


def test_at_leverage_1_a_short_that_doubles_is_liquidated_but_a_long_never() -> None:
    spec = btc_perp()
    up = LIQ_BARS.copy()
    up.iloc[2:, :4] = [[10_000.0, 25_000.0, 10_000.0, 20_000.0]] * 3
    short = backtest_perp(Scripted([-1.0] * 5), up, spec, NO_COSTS, 1_000.0)
    assert short.trades["exit_reason"].iloc[0] == "liquidation"
    assert short.trades["exit_price"].iloc[0] == pytest.approx(2 * 10_000 / 1.005)
    down = LIQ_BARS.copy()
    down.iloc[2:, :4] = [[10_000.0, 10_000.0, 1.0, 2.0]] * 3
    long = backtest_perp(Scripted([1.0] * 5), down, spec, NO_COSTS, 1_000.0)
    assert (long.trades["exit_reason"] == "open").all()


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample("btc_usd_1h").iloc[-2000:]


@pytest.mark.parametrize(
    "strategy",
    [SmaCross(fast=10, slow=30), BollingerReversion(window=20, k=2.0)],
    ids=["long_all_in", "long_short"],
)
def test_leverage_1_without_funding_is_the_spot_backtest(sample, strategy) -> None:
    costs = Costs(0.001, 0.0005)
    spot = backtest(strategy, sample, costs, 10_000)
    perp = backtest_perp(strategy, sample, btc_perp(), costs, 10_000)
    assert len(perp.liquidations) == 0
    assert len(spot.trades) == len(perp.trades) > 5
    for col in ("entry_time", "exit_time", "side", "status"):
        assert perp.trades[col].tolist() == spot.trades[col].tolist()
    for col in ("entry_price", "exit_price", "size", "pnl", "fees"):
        np.testing.assert_allclose(perp.trades[col], spot.trades[col], rtol=1e-9)
    np.testing.assert_allclose(perp.equity, spot.equity, rtol=1e-9)
    # zero funding rates change nothing either
    zero = pd.Series(0.0, index=sample.index[::8], name="funding_rate")
    again = backtest_perp(strategy, sample, btc_perp(), costs, 10_000, funding=zero)
    np.testing.assert_array_equal(again.equity, perp.equity)
    held = again.simulation.position[sample.index.get_indexer(zero.index)] != 0
    assert len(again.funding) == held.sum() > 0 and (again.funding == 0).all()


def test_leverage_scales_the_position(sample) -> None:
    strategy = SmaCross(fast=10, slow=30)
    one = backtest_perp(strategy, sample, btc_perp(), NO_COSTS, 10_000)
    three = backtest_perp(strategy, sample, btc_perp(), NO_COSTS, 10_000, leverage=3)
    assert three.trades["size"].iloc[0] == pytest.approx(3 * one.trades["size"].iloc[0])


@pytest.mark.parametrize("leverage", [0, -2, 21, "x"])
def test_bad_leverage_is_refused(leverage) -> None:
    with pytest.raises(ValidationError) as err:
        backtest_perp(Scripted([1.0] * 5), FUNDING_BARS, btc_perp(), leverage=leverage)
    assert err.value.field == "leverage"


def test_funding_files_and_bad_funding(tmp_path) -> None:
    frame = pd.DataFrame({"ts": [1704067200000, 1704096000000], "funding_rate": [0.0001, -0.0002]})
    csv = tmp_path / "f.csv"
    frame.to_csv(csv, index=False)
    series = read_funding(str(csv))
    assert series.name == "funding_rate"
    assert list(series.index) == [START, START + 8 * HOUR]
    pq = tmp_path / "f.parquet"
    frame.assign(ts=pd.to_datetime(frame["ts"], unit="ms", utc=True)).to_parquet(pq)
    pd.testing.assert_series_equal(read_funding(str(pq)), series)
    with pytest.raises(ValidationError, match="funding_rate"):
        funding_series(frame.assign(funding_rate=[0.1, float("nan")]))
    with pytest.raises(ValidationError, match="needs columns"):
        funding_series(frame.rename(columns={"funding_rate": "rate"}))
    with pytest.raises(ValidationError, match="increase"):
        funding_series(frame.iloc[::-1])
    with pytest.raises(ValidationError, match="is not a file"):
        read_funding(str(tmp_path / "missing.csv"))


def _cli(*args: str, cwd=None):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "nzeza.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_backtest_command_prints_funding_and_liquidations(tmp_path) -> None:
    bars = tmp_path / "bars.csv"
    LIQ_BARS.rename_axis("timestamp").to_csv(bars)
    funding = tmp_path / "funding.csv"
    pd.DataFrame({"ts": [LIQ_BARS.index[2]], "funding_rate": [0.001]}).to_csv(funding)
    (tmp_path / "always.py").write_text(ALWAYS)
    out = _cli(
        "backtest", "always.py:Always", "--data", str(bars), "--perp", "binance",
        "--funding", str(funding), "--leverage", "10", "--fee", str(LIQ_FEE), "--slippage", "0",
        "--cash", "1000", "--html", str(tmp_path / "r.html"), cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "r.html").stat().st_size > 100_000
    assert "as a binance perpetual at 10×" in out.stdout
    q = 1 / 1.0004
    paid = q * 9_200 * 0.001  # funding at bar 2 (mark = its close), on the position held
    assert f"paid {paid:,.2f}, received 0.00 USD" in out.stdout
    assert "liquidations: 1" in out.stdout and "liquidation" in out.stdout.split("last trades")[1]
    for bad, flag in (
        (["--leverage", "21"], "--leverage"),
        (["--leverage", "0"], "--leverage"),
        (["--mmr", "0.2"], "--mmr"),  # at or above the initial margin rate (1 / 20)
        (["--perp", "nope"], "--perp"),
    ):
        argv = ["backtest", "sma_cross", "--data", str(bars), "--perp", "binance", *bad]
        out = _cli(*argv, cwd=tmp_path)
        assert out.returncode == 2 and flag in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    out = _cli("backtest", "sma_cross", "--data", str(bars), "--funding", str(funding))
    assert out.returncode == 2 and "--funding" in out.stderr and "--perp" in out.stderr


def test_perp_backtests_are_trials_keyed_by_their_terms(sample, tmp_path) -> None:
    from nzeza.store import Ledger

    url = f"sqlite:///{tmp_path / 'trials.sqlite'}"
    strategy = SmaCross(fast=10, slow=30)
    bars = sample.iloc[-300:]
    zero = pd.Series(0.0, index=bars.index[::8], name="funding_rate")
    first = backtest_perp(strategy, bars, btc_perp(), NO_COSTS, 10_000, ledger=url)
    assert first.registration.new == 1
    again = backtest_perp(strategy, bars, btc_perp(), NO_COSTS, 10_000, ledger=url)
    assert again.registration.new == 0  # the same run is the same trial
    for kw in ({"leverage": 2}, {"funding": zero}):
        other = backtest_perp(strategy, bars, btc_perp(), NO_COSTS, 10_000, ledger=url, **kw)
        assert other.registration.new == 1, kw
    with Ledger(url) as led, led.engine.connect() as conn:
        from sqlalchemy import select

        from nzeza.store import schema as s

        costs = conn.execute(select(s.trials.c.costs)).scalars().all()
    assert len(costs) == 3 and all('"perp"' in c for c in costs)


def test_a_funding_file_with_marks_books_at_them(tmp_path) -> None:
    # nzeza data funding caches ts, funding_rate and mark (NaN where the venue gives none)
    frame = pd.DataFrame(
        {
            "ts": [START + HOUR * 2, START + HOUR * 3],
            "funding_rate": [0.0001, 0.0001],
            "mark": [50_500.0, float("nan")],
        }
    )
    path = tmp_path / "funding.parquet"
    frame.to_parquet(path)
    rates = read_funding(str(path))
    result = backtest_perp(
        Scripted([1.0] * 5), FUNDING_BARS, btc_perp(), NO_COSTS, FUNDING_CASH, funding=rates
    )
    events = result.funding_events
    assert events["mark"].tolist() == [50_500.0, 50_000.0]  # NaN: the bar's close
    assert events["amount"].tolist() == [-10.1, -10.0]
    with pytest.raises(ValidationError, match="mark"):
        funding_series(frame.assign(mark=[-1.0, 2.0]))


def _cached_funding(tmp_path, venue: str, symbol: str, frame: pd.DataFrame) -> None:
    """A funding cache as `nzeza data funding VENUE SYMBOL` leaves it under NZEZA_DATA_DIR."""
    from nzeza.data.funding import funding_path

    path = funding_path(tmp_path / "ohlcv", venue, symbol)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)


def test_the_cache_is_a_funding_source_with_its_marks(tmp_path, monkeypatch) -> None:
    # two funding times at 8 h apart (binanceusdm's interval: no gap), the first with a mark
    times = [START + HOUR * 2, START + HOUR * 10]
    frame = pd.DataFrame(
        {"ts": times, "funding_rate": [0.0001, 0.0002], "mark": [50_500.0, float("nan")]}
    )
    _cached_funding(tmp_path, "binanceusdm", "BTC/USDT:USDT", frame)
    monkeypatch.setenv("NZEZA_DATA_DIR", str(tmp_path))
    rates = read_funding("ccxt:binanceusdm:BTC/USDT:USDT")
    assert rates.tolist() == [0.0001, 0.0002] and list(rates.index) == times
    assert rates.attrs["mark"].tolist()[0] == 50_500.0
    bars = bars_of([(50_000.0, 50_000.0, 50_000.0, 50_000.0)] * 12)
    result = backtest_perp(
        Scripted([1.0] * 12), bars, btc_perp(), NO_COSTS, FUNDING_CASH, funding=rates
    )
    # 2 BTC held: −2 × 50,500 × 0.0001 at the cached mark, −2 × 50,000 × 0.0002 at the close
    assert result.funding_events["amount"].tolist() == [-10.1, -20.0]
    for bad, why in (
        ("ccxt:binanceusdm", "ccxt:VENUE:SYMBOL"),
        ("ccxt:binanceusdm:ETH/USDT:USDT", "no cached funding history"),
    ):
        with pytest.raises(ValidationError, match=why):
            read_funding(bad)


def test_backtest_and_replay_commands_read_funding_from_the_cache(tmp_path) -> None:
    import os

    frame = pd.DataFrame({"ts": [START + HOUR * 2], "funding_rate": [0.0001], "mark": [50_500.0]})
    _cached_funding(tmp_path, "binanceusdm", "BTC/USDT:USDT", frame)
    bars = tmp_path / "bars.csv"
    FUNDING_BARS.rename_axis("timestamp").to_csv(bars)
    (tmp_path / "always.py").write_text(ALWAYS)
    env = {**os.environ, "NZEZA_DATA_DIR": str(tmp_path)}
    common = ["always.py:Always", "--data", str(bars), "--perp", "binance", "--funding",
              "ccxt:binanceusdm:BTC/USDT:USDT", "--fee", "0", "--slippage", "0",
              "--cash", str(FUNDING_CASH)]  # fmt: skip
    import subprocess
    import sys

    for argv in (["backtest", *common], ["replay", "--strategy", *common]):
        out = subprocess.run(
            [sys.executable, "-m", "nzeza.cli", *argv],
            capture_output=True, text=True, cwd=tmp_path, env=env,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "paid 10.10, received 0.00 USD" in out.stdout, out.stdout  # at the cached mark
    missing = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "backtest", *common[:6], "ccxt:dydx:BTC/USD:USD"],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert missing.returncode == 2 and "--funding" in missing.stderr
    assert "nzeza data funding dydx" in missing.stderr and "Traceback" not in missing.stderr
