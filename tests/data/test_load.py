"""Own bars in: `nzeza.data.load` (files, samples, the ccxt cache) and the bar checks every
entry point runs (`check_bars`, `repair_bars`), through the library and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nzeza.cli import main
from nzeza.data import check_bars, load, load_sample, repair_bars
from nzeza.data.cache import cache_path, write_parquet_atomic
from nzeza.engine import replay
from nzeza.errors import DataError, ValidationError
from nzeza.research import backtest, sweep
from nzeza.research.trials import data_fingerprint
from nzeza.strategies import SmaCross

BARS = load_sample("btc_usd_1h").iloc[-300:]


def _csv(tmp_path, frame: pd.DataFrame, name: str = "bars.csv", **kw) -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False, **kw)
    return str(path)


def _exported(epoch_unit: str | None = None, capital: bool = True) -> pd.DataFrame:
    out = BARS.reset_index()
    if epoch_unit is not None:
        per = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[epoch_unit]
        out["time"] = out["time"].astype("int64") // per
    if capital:
        out.columns = [c.capitalize() for c in out.columns]
    return out


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_epochs_in_any_unit_and_capitalised_columns_load_as_the_same_bars(tmp_path, unit):
    bars = load(_csv(tmp_path, _exported(unit)))
    assert bars.index.equals(BARS.index)
    assert np.array_equal(bars.to_numpy(), BARS.to_numpy())
    assert data_fingerprint(bars) == data_fingerprint(BARS)  # the trial registry sees one set
    assert bars.attrs["timeframe"] == "1h"


def test_iso_strings_parquet_and_named_time_columns(tmp_path):
    iso = _exported(capital=False)
    iso["time"] = iso["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    iso = iso.rename(columns={"time": "Open_Time"})
    assert load(_csv(tmp_path, iso)).index.equals(BARS.index)
    path = tmp_path / "bars.parquet"
    BARS.to_parquet(path)
    assert load(path).index.equals(BARS.index)
    other = iso.rename(columns={"Open_Time": "when"})
    with pytest.raises(ValidationError) as err:
        load(_csv(tmp_path, other, "when.csv"))
    assert err.value.field == "time_column" and "when" in str(err.value)
    assert load(_csv(tmp_path, other, "when.csv"), time_column="when").index.equals(BARS.index)


def test_day_first_dates_need_dayfirst_and_never_raise_a_pandas_error(tmp_path):
    frame = _exported()
    frame["Time"] = frame["Time"].dt.strftime("%d.%m.%Y %H:%M")
    path = _csv(tmp_path, frame, sep=";")
    with pytest.raises(ValidationError) as err:
        load(path)
    assert err.value.field == "time" and err.value.value == frame["Time"].iloc[0]
    assert "--dayfirst" in str(err.value)
    assert load(path, dayfirst=True).index.equals(BARS.index)


def test_a_multi_symbol_file_needs_a_symbol_and_lists_them(tmp_path):
    eth = BARS * 0.05
    panel = pd.concat([BARS.assign(symbol="BTC"), eth.assign(symbol="ETH")]).reset_index()
    path = _csv(tmp_path, panel)
    with pytest.raises(ValidationError) as err:
        load(path)
    assert err.value.field == "symbol" and "BTC, ETH" in str(err.value)
    assert np.allclose(load(path, symbol="ETH")["close"], eth["close"])
    with pytest.raises(ValidationError, match="symbols: BTC, ETH"):
        load(path, symbol="LTC")
    with pytest.raises(ValidationError, match="BTC, ETH, LTC"):
        load("bitstamp_1d")
    assert load("bitstamp_1d", symbol="ETH").attrs["symbol"] == "ETH"


def test_the_ccxt_spec_reads_the_download_cache_and_says_how_to_fill_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NZEZA_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as err:
        load("ccxt:binance:BTC/USDT:1h")
    assert "nzeza data download --exchange binance --symbol BTC/USDT --timeframe 1h" in str(
        err.value
    )
    write_parquet_atomic(BARS, cache_path(tmp_path / "ohlcv", "binance", "BTC/USDT", "1h"))
    bars = load("ccxt:binance:BTC/USDT:1h")
    assert bars.index.equals(BARS.index) and bars.attrs["symbol"] == "BTC/USDT"
    with pytest.raises(ValidationError, match="ccxt:VENUE:SYMBOL:TIMEFRAME"):
        load("ccxt:binance")


def test_a_header_only_file_and_a_missing_file_are_clear_errors(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("time,open,high,low,close,volume\n")
    with pytest.raises(ValidationError, match="no bars"):
        load(path)
    with pytest.raises(ValidationError, match="no such file"):
        load(tmp_path / "nope.csv")


def _mutated(i: int, col: str, value: float) -> pd.DataFrame:
    out = BARS.iloc[:50].copy()
    out.iloc[i, out.columns.get_loc(col)] = value
    return out


@pytest.mark.parametrize(
    ("col", "value", "field"),
    [
        ("close", np.nan, "bars.close"),
        ("high", np.inf, "bars.high"),
        ("open", -1.0, "bars.open"),
        ("low", 0.0, "bars.low"),
        ("high", 1.0, "bars.high"),  # below open and close
        ("low", 1e9, "bars.low"),  # above open and close
        ("volume", -5.0, "bars.volume"),
    ],
)
def test_bad_values_are_refused_naming_row_and_column_even_under_repair(col, value, field):
    bars = _mutated(17, col, value)
    for call in (check_bars, lambda b: repair_bars(b)[0]):
        with pytest.raises(ValidationError) as err:
            call(bars)
        assert err.value.field == field
        assert "row 17" in str(err.value) and str(bars.index[17]) in str(err.value)


def _reversed_with_duplicates() -> pd.DataFrame:
    part = BARS.iloc[:60]
    return pd.concat([part.iloc[::-1], part.iloc[10:12]])


@pytest.mark.parametrize(
    "run",
    [
        lambda b: backtest(SmaCross(fast=5, slow=20), b, register=False),
        lambda b: replay(SmaCross(fast=5, slow=20), b),
        lambda b: sweep(SmaCross, b, {"fast": [5], "slow": [20]}, register=False),
    ],
    ids=["backtest", "replay", "sweep"],
)
def test_reversed_or_duplicated_bars_are_refused_by_every_entry_point(run):
    bars = _reversed_with_duplicates()
    with pytest.raises(ValidationError) as err:
        run(bars)
    assert err.value.field == "bars.index" and "out of order" in str(err.value)
    dup = pd.concat([BARS.iloc[:30], BARS.iloc[29:40]])
    with pytest.raises(ValidationError, match="duplicate timestamp at row 30"):
        run(dup)


def test_repair_sorts_and_drops_exact_duplicates_only():
    fixed, changes = repair_bars(_reversed_with_duplicates())
    assert fixed.index.equals(BARS.index[:60])
    assert len(changes) == 2 and "sorted" in changes[0] and "dropped 2 exact" in changes[1]
    assert repair_bars(BARS)[1] == []
    conflicting = pd.concat([BARS.iloc[:30], BARS.iloc[29:30] * 1.01])
    with pytest.raises(ValidationError, match="duplicate timestamp"):
        repair_bars(conflicting)


def test_cli_backtest_reads_own_data_refuses_bad_bars_and_repairs_on_request(tmp_path, capsys):
    path = _csv(tmp_path, _exported("ms"))
    assert main(["backtest", "sma_cross", "--data", path, "--ledger", _ledger(tmp_path)]) == 0
    assert "on bars.csv: 300 bars" in capsys.readouterr().out
    bad = _csv(tmp_path, _reversed_with_duplicates().reset_index(), "bad.csv")
    args = ["backtest", "sma_cross", "--data", bad, "--ledger", _ledger(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("nzeza: error: invalid bars.index=") and "Traceback" not in err
    assert main([*args, "--repair"]) == 0
    out = capsys.readouterr().out
    assert "repaired bad.csv: sorted" in out and "dropped 2 exact duplicate" in out
    assert main(["backtest", "sma_cross", "--sample", "bitstamp_1d"]) == 2
    assert "choose one with --symbol" in capsys.readouterr().err


def _ledger(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


def test_checking_bars_is_cheap_next_to_a_backtest():
    # counted in numpy passes, not time: one vectorised pass per check over whole columns
    big = load_sample("btc_usd_1h")
    assert check_bars(big) is big  # returns the same frame: no copy on the hot path


def test_a_saved_panel_reads_one_symbol_like_the_sample(tmp_path):
    path = tmp_path / "panel.parquet"
    load_sample("bitstamp_1d").to_parquet(path)  # (symbol, field) columns, NaN before listing
    with pytest.raises(ValidationError, match=r"several symbols \(BTC, ETH, LTC\)"):
        load(path)
    eth, ref = load(path, symbol="ETH"), load_sample("bitstamp_1d", symbol="ETH")
    assert eth.index.equals(ref.index) and np.array_equal(eth.to_numpy(), ref.to_numpy())


def test_a_banner_line_before_the_header_is_skipped(tmp_path):
    path = tmp_path / "cdd.csv"
    frame = _exported("s").rename(columns={"Time": "unix_time", "Volume": "Volume BTC"})
    frame["Date"] = BARS.index.strftime("%Y-%m-%d %H:%M:%S")
    path.write_text("https://www.CryptoDataDownload.com\n" + frame.to_csv(index=False))
    bars = load(path)
    assert bars.index.equals(BARS.index) and np.allclose(bars["volume"], BARS["volume"])


def test_a_file_with_both_volumes_gets_the_base_volume_even_where_the_labels_swap(tmp_path):
    """CryptoDataDownload-style exports carry `Volume BTC` and `Volume USD`, and have been seen
    to swap them mid-file: each row's base volume is the one whose implied price lies within
    the bar (the rule that built the bundled samples)."""
    from nzeza.data import load

    rows = [
        "https://www.CryptoDataDownload.com",
        "date,symbol,open,high,low,close,Volume BTC,Volume USD",
    ]
    expected = []
    for i in range(6):
        price, base = 100.0 + i, 2.0 + i
        quote = base * price
        a, b = (quote, base) if i in (2, 4) else (base, quote)  # rows 2 and 4 swapped
        day = f"2024-01-{i + 1:02d}"
        rows.append(f"{day},BTC/USD,{price},{price + 1},{price - 1},{price},{a},{b}")
        expected.append(base)
    path = tmp_path / "cdd.csv"
    path.write_text("\n".join(rows) + "\n")
    bars = load(str(path))
    assert bars["volume"].tolist() == expected
    assert bars.attrs["volume_swapped"] == 2 and bars.attrs["volume_from"] == "volume btc"
