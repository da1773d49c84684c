"""`nzeza data ...` end to end through the real entry point (loopback server for download)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from support.sim.binance_market import BinanceRestServer

from nzeza.cli import main
from nzeza.data import cache_path, load_sample, read_cache


def test_samples_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "samples"]) == 0
    out = capsys.readouterr().out
    for text in ("btc_usd_1h", "33259", "2018-05-15 06:00", "bitstamp_1d", "1865", "ETH/USD"):
        assert text in out


def test_validate_sample_prints_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "validate", "bitstamp_1d", "--symbol", "ETH"]) == 0
    out = capsys.readouterr().out
    assert "[ETH]" in out and "gap" in out and "2019-03-20" in out


def test_validate_strict_exits_non_zero_naming_first_bad_bar(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["data", "validate", "btc_usd_1h", "--strict"]) == 2
    captured = capsys.readouterr()
    assert "zero_volume_run" in captured.out
    assert "2020-04-25 20:00:00Z" in captured.err and "volume=0.0" in captured.err


def test_validate_file_needs_timeframe_and_checks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bars.parquet"
    bars = load_sample("btc_usd_1h").iloc[:48].drop(load_sample("btc_usd_1h").index[10])
    bars.to_parquet(path)
    assert main(["data", "validate", str(path)]) == 2
    assert "--timeframe" in capsys.readouterr().err
    assert main(["data", "validate", str(path), "--timeframe", "1h", "--strict"]) == 2
    captured = capsys.readouterr()
    assert "gap" in captured.out and "2018-05-15 16:00:00Z" in captured.err
    assert main(["data", "validate", str(path), "--timeframe", "1h"]) == 0


def test_validate_unknown_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "validate", "no_such_thing", "--timeframe", "1h"]) == 2
    assert "'no_such_thing'" in capsys.readouterr().err


def test_download_through_the_cli(
    binance: BinanceRestServer,
    served_bars: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [
        "data",
        "download",
        "--exchange",
        "binance",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--since",
        "2021-01-01",
        "--until",
        "2021-01-03",
        "--cache",
        str(tmp_path),
        "--api-base",
        binance.url,
        "--no-progress",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "48 bars" in out and "48 new from 1 request" in out and ": OK" in out
    cached = read_cache(cache_path(tmp_path, "binance", "BTC/USDT", "1h"))
    pd.testing.assert_frame_equal(
        cached, served_bars.loc["2021-01-01":"2021-01-02 23:00"], check_freq=False
    )
    assert main(argv) == 0
    assert "0 new from 0 request" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--exchange", "binanse"), ("--timeframe", "1M"), ("--since", "2024-13-01")],
)
def test_download_bad_arguments(
    flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = {
        "--exchange": "binance",
        "--symbol": "BTC/USDT",
        "--timeframe": "1h",
        "--since": "2024-01-01",
        "--cache": str(tmp_path),
    }
    args[flag] = value
    argv = ["data", "download", "--no-progress"] + [x for kv in args.items() for x in kv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert repr(value) in err and flag.lstrip("-") in err


def test_validate_strict_flags_infinite_prices_and_a_header_only_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inf = tmp_path / "inf.csv"
    frame = load_sample("btc_usd_1h").iloc[:24].reset_index()
    frame[["open", "high", "low", "close"]] = float("inf")
    frame.to_csv(inf, index=False)
    assert main(["data", "validate", str(inf), "--timeframe", "1h", "--strict"]) == 2
    assert "non_finite" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("time,open,high,low,close,volume\n")
    assert main(["data", "validate", str(empty), "--timeframe", "1h", "--strict"]) == 2
    assert "empty" in capsys.readouterr().err


def test_validate_reads_millisecond_epochs_and_day_first_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = load_sample("btc_usd_1h").iloc[:48].reset_index()
    frame["time"] = frame["time"].astype("int64") // 10**6
    frame.columns = [c.capitalize() for c in frame.columns]
    path = tmp_path / "ms.csv"
    frame.to_csv(path, index=False)
    assert main(["data", "validate", str(path), "--timeframe", "1h", "--strict"]) == 0
    assert "48 rows of 1h, 2018-05-15 06:00:00Z" in capsys.readouterr().out
    days = load_sample("bitstamp_1d", symbol="BTC").iloc[:30].reset_index()
    days["time"] = days["time"].dt.strftime("%d.%m.%Y")
    path = tmp_path / "days.csv"
    days.to_csv(path, index=False)
    assert main(["data", "validate", str(path), "--timeframe", "1d"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nzeza: error: invalid time='28.11.2014'") and "--dayfirst" in err
    assert main(["data", "validate", str(path), "--timeframe", "1d", "--dayfirst"]) == 0
    assert "2014-11-28" in capsys.readouterr().out
