"""Raw-export readers on real raw rows (copied verbatim from the shared files), quirks fixed."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nzeza.data.sources import (
    fix_swapped_volume,
    read_bitstamp_1d_csv,
    read_btc_usd_1h_csv,
    read_coinbase_1h_csv,
)

# ruff: noqa: E501  (raw rows below are verbatim)
# btc_usd_1h_2018-2022.csv.gz: header, newest rows, the 2020-10-12 and 2019-03-03 switches
# between swapped and correct volume columns, a flat zero-volume bar, the oldest rows.
BTC_USD_1H = """\
unix,date,symbol,open,high,low,close,volume,Volume USD
1646092800,2022-03-01 00:00:00,BTC/USD,43221.71,43626.49,43185.48,43312.27,52.05632000,2254677.3870464
1602493200,2020-10-12 09:00:00,BTC/USD,11360.00,11379.48,11314.53,11358.90,403.96039655,4588545.748371795
1602489600,2020-10-12 08:00:00,BTC/USD,11376.13,11397.94,11360.0,11360.0,1589362.32,139.7
1587844800,2020-04-25 20:00:00,BTC/USD,7547.56,7547.56,7547.56,7547.56,0.0,0.0
1551578400,2019-03-03 02:00:00,BTC/USD,3812.39,3814.02,3801.30,3808.88,105.85962150,403206.59513892
1551571200,2019-03-03 00:00:00,BTC/USD,3810.46,3818.34,3804.3,3811.49,697188.74,182.87
1526364000,2018-05-15 06:00:00,BTC/USD,8733.86,8796.68,8707.28,8740.99,4906603.14,559.93
"""

# coinbase_btc_usd_1h_2017-2019.csv.gz: banner, header, 12-hour clock, rows out of order.
COINBASE_1H = """\
Timestamps are UTC timezone,https://www.CryptoDataDownload.com
date,symbol,open,high,low,close,volume_btc,volume
2019-10-17 09-AM,BTCUSD,8051,8056.83,8021.23,8035.88,61.25,492394.56
2017-11-12 12-PM,BTCUSD,6371.26,6371.26,6145.88,6146,998.84,6247891.44
2017-11-12 03-AM,BTCUSD,6172.93,6485.67,6113.85,6201,3891.25,24503261.14
2017-11-12 08-AM,BTCUSD,6172.93,6485.67,6113.85,6201,3891.25,24503261.14
2017-11-12 12-AM,BTCUSD,6005.01,6005.01,5611,5850.98,5477.97,31764136.43
2017-07-01 11-AM,BTCUSD,2505.56,2513.38,2495.12,2509.17,114.6,287000.32
"""

# bitstamp_btc_eth_ltc_1d_2014-2020.csv.gz: unnamed date column, ETH/LTC listed later.
BITSTAMP_1D = """\
,BTC:open,BTC:high,BTC:low,BTC:close,BTC:volume,ETH:open,ETH:high,ETH:low,ETH:close,ETH:volume,LTC:open,LTC:high,LTC:low,LTC:close,LTC:volume
2017-06-24,2685.05,2724.96,2512.13,2557.66,13341.43,,,,,,,,,,
2017-06-25,2557.66,2635.72,2432.0,2502.03,10339.57,,,,,,43.03,43.21,38.55,40.9,7875.2
2017-11-09,7450.32,7490.0,7061.2,7148.0,14729.52,322.15,331.7,317.29,321.32,13118.15,62.39,67.12,61.2,64.48,121878.71
2019-03-19,3969.59,3985.0,3967.57,3978.58,180.41,136.86,138.75,136.69,137.68,3871.47,58.97,59.77,58.87,59.45,2009.69
2019-04-01,4096.08,4150.0,4052.56,4136.32,7232.99,141.02,142.95,138.27,141.0,39721.88,60.41,60.87,59.84,60.43,16257.98
"""


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_btc_usd_1h_sorted_and_volume_always_base_units() -> None:
    df, notes = read_btc_usd_1h_csv(io.StringIO(BTC_USD_1H))
    assert df.index.is_monotonic_increasing and df.index[0] == ts("2018-05-15 06:00")
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert (df.dtypes == np.float64).all() and str(df.index.dtype) == "datetime64[ns, UTC]"
    # Swapped rows: base volume was in "Volume USD".
    assert df.loc[ts("2018-05-15 06:00"), "volume"] == 559.93
    assert df.loc[ts("2019-03-03 00:00"), "volume"] == 182.87
    assert df.loc[ts("2020-10-12 08:00"), "volume"] == 139.7
    # Correct rows are untouched.
    assert df.loc[ts("2019-03-03 02:00"), "volume"] == 105.85962150
    assert df.loc[ts("2020-10-12 09:00"), "volume"] == 403.96039655
    assert df.loc[ts("2022-03-01 00:00"), "volume"] == 52.05632
    assert df.loc[ts("2020-04-25 20:00"), "volume"] == 0.0
    assert notes["volume_swapped"] == 3 and notes["volume_ambiguous"] == 0
    assert notes["newest_first"] is True and notes["date_unix_mismatch"] == 0
    # Every row's implied price (quote / base) now lies in its [low, high].
    raw = pd.read_csv(io.StringIO(BTC_USD_1H)).iloc[::-1].set_index(df.index)
    quote = np.where(raw["volume"] > raw["Volume USD"], raw["volume"], raw["Volume USD"])
    vwap = quote[df["volume"] > 0] / df["volume"][df["volume"] > 0]
    assert ((vwap >= df["low"][df["volume"] > 0]) & (vwap <= df["high"][df["volume"] > 0])).all()


def test_swap_rule_edge_cases() -> None:
    base = np.array([2.0, 20_000.0, 0.0, 2.0, 0.0])
    quote = np.array([20_000.0, 2.0, 0.0, 50.0, 5.0])
    low, high = np.full(5, 9_900.0), np.full(5, 10_100.0)
    fixed, swapped, ambiguous = fix_swapped_volume(base, quote, low, high)
    assert fixed.tolist() == [2.0, 2.0, 0.0, 2.0, 0.0]
    assert swapped.tolist() == [False, True, False, False, False]
    # 50/2 = 25 fits neither reading; a zero base with a nonzero quote is inconsistent too.
    assert ambiguous.tolist() == [False, False, False, True, True]


def test_coinbase_banner_12h_clock_and_out_of_order_rows() -> None:
    df, notes = read_coinbase_1h_csv(io.StringIO(COINBASE_1H))
    assert df.index.tolist() == [
        ts("2017-07-01 11:00"),
        ts("2017-11-12 00:00"),
        ts("2017-11-12 03:00"),
        ts("2017-11-12 08:00"),
        ts("2017-11-12 12:00"),
        ts("2019-10-17 09:00"),
    ]
    assert df.loc[ts("2017-11-12 00:00"), "close"] == 5850.98  # "12-AM" is midnight
    assert df.loc[ts("2017-11-12 12:00"), "open"] == 6371.26  # "12-PM" is noon
    assert df.loc[ts("2019-10-17 09:00"), "volume"] == 61.25  # volume_btc, not USD
    assert notes["rows_out_of_order"] == 1 and notes["banner_lines"] == 1


def test_bitstamp_long_frame_without_pre_listing_rows() -> None:
    df, notes = read_bitstamp_1d_csv(io.StringIO(BITSTAMP_1D))
    counts = df["symbol"].value_counts().to_dict()
    assert counts == {"BTC": 5, "LTC": 4, "ETH": 3}
    eth = df[df["symbol"] == "ETH"]
    assert eth.index[0] == ts("2017-11-09") and eth["open"].iloc[0] == 322.15
    assert not df[["open", "high", "low", "close", "volume"]].isna().any().any()
    assert notes["ETH"]["empty_pre_listing_rows"] == 2 and notes["LTC"]["listed"] == "2017-06-25"


def test_readers_accept_gzip_files(tmp_path: Path) -> None:
    path = tmp_path / "btc.csv.gz"
    path.write_bytes(gzip.compress(BTC_USD_1H.encode()))
    df, _ = read_btc_usd_1h_csv(path)
    assert len(df) == 7


def test_missing_column_is_a_data_error() -> None:
    from nzeza.errors import DataError

    with pytest.raises(DataError, match="Volume USD"):
        read_btc_usd_1h_csv(io.StringIO("unix,date,open,high,low,close,volume\n"))
