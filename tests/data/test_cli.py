"""`nzeza data ...` end to end through the real entry point (loopback server for download)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from support.binance_rest import BinanceRestServer

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
