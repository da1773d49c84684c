"""The Parquet cache: paths, round trip, atomic writes that never leave a torn file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nzeza.data import cache_path, load_sample, read_cache, write_parquet_atomic
from nzeza.errors import DataError


def test_cache_path_layout(tmp_path: Path) -> None:
    assert cache_path(tmp_path, "binance", "BTC/USDT", "1h") == (
        tmp_path / "binance" / "BTC-USDT" / "1h.parquet"
    )
    assert cache_path(tmp_path, "bybit", "BTC/USDT:USDT", "15min").name == "15m.parquet"
    assert cache_path(tmp_path, "bybit", "BTC/USDT:USDT", "1h").parent.name == "BTC-USDT_USDT"
    for evil in ("../../etc", "..", "."):
        path = cache_path(tmp_path, "..", evil, "1h")
        assert path.resolve().is_relative_to(tmp_path.resolve()) and ".." not in path.parts


def test_round_trip_is_exact(tmp_path: Path) -> None:
    bars = load_sample("btc_usd_1h").iloc[:500]
    path = write_parquet_atomic(bars, tmp_path / "a" / "b.parquet")
    back = read_cache(path)
    pd.testing.assert_frame_equal(back, bars, check_freq=False)
    assert read_cache(tmp_path / "missing.parquet") is None


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    bars = load_sample("btc_usd_1h").iloc[:10]
    path = write_parquet_atomic(bars, tmp_path / "c.parquet")
    before = path.read_bytes()
    bad = bars.astype(object)
    bad.iloc[3, 0] = object()  # pyarrow cannot serialise this: the write fails midway
    with pytest.raises(Exception):  # noqa: B017 (pyarrow's own error type)
        write_parquet_atomic(bad, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.parquet"]


def test_corrupt_cache_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"broken\.parquet"):
        read_cache(path)
