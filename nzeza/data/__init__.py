"""nzeza.data: historical bars — bundled real samples, OHLCV validation, Parquet cache, ccxt
downloader.

    from nzeza.data import load, load_sample, validate_ohlcv
    bars = load("my_bars.csv")          # or a Parquet file, or ccxt:binance:BTC/USDT:1h
    rates = load_funding("binanceusdm", "BTC/USDT:USDT")   # after `nzeza data funding ...`
    bars = load_sample("btc_usd_1h")
    print(validate_ohlcv(bars, "1h"))

Light to import (pandas only): ccxt is imported inside the downloader when it runs.
"""

from nzeza.data.cache import cache_path, read_cache, write_parquet_atomic
from nzeza.data.checks import check_bars, repair_bars
from nzeza.data.download import DownloadResult, download_ohlcv, fetch_ohlcv_to_cache
from nzeza.data.funding import (
    FundingReport,
    FundingResult,
    check_funding,
    download_funding,
    download_mark,
    load_funding,
    load_mark,
)
from nzeza.data.loader import load, load_panel
from nzeza.data.samples import SAMPLES, SampleInfo, list_samples, load_sample
from nzeza.data.schema import OHLCV_COLUMNS, as_ohlcv
from nzeza.data.timeframe import Timeframe, parse_timeframe
from nzeza.data.validate import (
    OhlcvIssue,
    OhlcvReport,
    OhlcvValidationError,
    validate_ohlcv,
)

__all__ = [
    "OHLCV_COLUMNS",
    "SAMPLES",
    "DownloadResult",
    "FundingReport",
    "FundingResult",
    "OhlcvIssue",
    "OhlcvReport",
    "OhlcvValidationError",
    "SampleInfo",
    "Timeframe",
    "as_ohlcv",
    "cache_path",
    "check_bars",
    "check_funding",
    "download_funding",
    "download_mark",
    "download_ohlcv",
    "fetch_ohlcv_to_cache",
    "list_samples",
    "load",
    "load_funding",
    "load_mark",
    "load_panel",
    "load_sample",
    "parse_timeframe",
    "read_cache",
    "repair_bars",
    "validate_ohlcv",
    "write_parquet_atomic",
]
