"""`nzeza data samples|validate|download|funding|mark`: argument handling only; the work is in
nzeza.data."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to `sub`."""
    p = sub.add_parser("data", help="bundled samples, OHLCV validation, ccxt downloads")
    acts = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    s = acts.add_parser("samples", help="list the bundled real-data samples")
    s.set_defaults(handler=_samples)

    v = acts.add_parser("validate", help="check an OHLCV sample, a CSV/Parquet file or a download")
    v.add_argument(
        "target",
        metavar="SAMPLE_OR_PATH",
        help="a sample name, a CSV/Parquet file path or ccxt:VENUE:SYMBOL:TIMEFRAME",
    )
    v.add_argument("--timeframe", default=None, help="bar length, e.g. 1h (default: sample's)")
    v.add_argument("--symbol", default=None, help="one symbol of a multi-symbol sample/file")
    v.add_argument("--time-column", default=None, help="the time column, when not detected")
    v.add_argument("--unit", default=None, choices=("s", "ms", "us", "ns"), help="epoch unit")
    v.add_argument("--dayfirst", action="store_true", help="dates are day-first (31.12.2020)")
    v.add_argument("--strict", action="store_true", help="exit non-zero if any issue")
    v.add_argument("--min-zero-volume-run", type=int, default=3, metavar="N")
    v.add_argument("--max-abs-log-return", type=float, default=0.5, metavar="X")
    v.set_defaults(handler=_validate)

    d = acts.add_parser("download", help="download OHLCV with ccxt into the Parquet cache")
    d.add_argument("--exchange", required=True, help="ccxt exchange id, e.g. binance")
    d.add_argument("--symbol", required=True, help="unified symbol, e.g. BTC/USDT")
    d.add_argument("--timeframe", required=True, help="e.g. 1m, 15m, 1h, 1d")
    d.add_argument("--since", required=True, help="first bar, UTC date, e.g. 2024-01-01")
    d.add_argument("--until", default=None, help="end (exclusive), UTC date; default now")
    d.add_argument("--cache", default=None, metavar="DIR", help="cache folder")
    d.add_argument("--limit", type=int, default=None, help="bars per request")
    d.add_argument(
        "--api-base",
        default=None,
        metavar="URL",
        help="send the exchange's REST calls to this host (mirror, proxy, local test server)",
    )
    d.add_argument("--strict", action="store_true", help="exit non-zero if validation fails")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(handler=_download)

    f = acts.add_parser(
        "funding",
        help="download a perpetual's funding-rate history with ccxt into the cache",
        description="Funding rates of a perpetual (ccxt fetchFundingRateHistory), paged, "
        "retried and resumable, into <cache>/<exchange>/<symbol>/funding.parquet; gaps against "
        "the venue's funding interval (Binance 8 h, dYdX/Hyperliquid 1 h) are reported.",
    )
    _history_args(f)
    f.set_defaults(handler=_funding)

    m = acts.add_parser(
        "mark",
        help="download a perpetual's mark-price bars with ccxt into the cache",
        description="Mark-price OHLCV of a perpetual (ccxt fetch_ohlcv price=mark) into "
        "<cache>/<exchange>/<symbol>/<timeframe>-mark.parquet; read it back as "
        "ccxt:EXCHANGE:SYMBOL:TIMEFRAME:mark.",
    )
    _history_args(m)
    m.add_argument("--timeframe", required=True, help="e.g. 1m, 15m, 1h, 1d")
    m.set_defaults(handler=_mark)


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("exchange", help="ccxt exchange id, e.g. binanceusdm, dydx, hyperliquid")
    p.add_argument("symbol", metavar="SYMBOL", help="unified perpetual symbol, e.g. BTC/USDT:USDT")
    p.add_argument("--since", required=True, help="start, UTC date, e.g. 2024-01-01")
    p.add_argument("--until", default=None, help="end (exclusive), UTC date; default now")
    p.add_argument("--cache", default=None, metavar="DIR", help="cache folder")
    p.add_argument("--limit", type=int, default=None, help="rows per request")
    p.add_argument(
        "--api-base",
        default=None,
        metavar="URL",
        help="send the exchange's REST calls to this host (mirror, proxy, local test server)",
    )
    p.add_argument("--strict", action="store_true", help="exit non-zero if the checks fail")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _samples(args: argparse.Namespace) -> int:
    from nzeza.data import list_samples

    table = list_samples()
    for col in ("start", "end"):
        table[col] = table[col].dt.strftime("%Y-%m-%d %H:%M")
    print(table.drop(columns=["venue"]).to_string(index=False))
    return 0


def _read_target(args: argparse.Namespace):
    from nzeza.data import SAMPLES
    from nzeza.data.loader import read_bars

    if args.target in SAMPLES:
        info = SAMPLES[args.target]
        symbols = [args.symbol] if args.symbol else list(info.symbols)
        frames = {s: read_bars(args.target, symbol=s) for s in symbols}
        return frames, args.timeframe or info.timeframe
    # a file (CSV/Parquet: time column and epoch unit detected) or ccxt:VENUE:SYMBOL:TIMEFRAME
    df = read_bars(
        args.target,
        symbol=args.symbol,
        time_column=args.time_column,
        unit=args.unit,
        dayfirst=args.dayfirst,
    )
    timeframe = args.timeframe or df.attrs.get("timeframe")  # a cached download knows its own
    if not timeframe:
        from nzeza.errors import ValidationError

        raise ValidationError("--timeframe", None, "required when validating a file")
    return {df.attrs.get("sample") or args.target: df}, timeframe


def _validate(args: argparse.Namespace) -> int:
    from nzeza.data import validate_ohlcv

    frames, timeframe = _read_target(args)
    failed = None
    for name, df in frames.items():
        # mark-price bars have no volume: a zero-volume run is what they are
        mark = df.attrs.get("price") == "mark"
        report = validate_ohlcv(
            df,
            timeframe,
            min_zero_volume_run=None if mark else args.min_zero_volume_run or None,
            max_abs_log_return=args.max_abs_log_return or None,
        )
        print(f"[{name}] {report}")
        if not report.ok and failed is None:
            failed = report
    if args.strict and failed is not None:
        failed.raise_if_bad()  # prints "error: ..." naming the first bad bar; exit 2
    return 0


def _cached_download(args: argparse.Namespace, fetch: Any, *what: Any) -> int:
    """One ccxt download into the cache (`fetch(exchange, symbol, *what, since, until, ...)`),
    its summary and gap report printed; `--strict` fails on gaps after the cache is written."""
    from nzeza.data.download import api_base_options

    options = api_base_options(args.exchange, args.api_base) if args.api_base else None
    result = fetch(
        args.exchange,
        args.symbol,
        *what,
        args.since,
        args.until,
        cache_dir=args.cache,
        progress=not args.no_progress,
        exchange_options=options,
        limit=args.limit,
    )
    print(result.summary())
    print(result.report)
    if args.strict:
        result.report.raise_if_bad()
    return 0


def _download(args: argparse.Namespace) -> int:
    from nzeza.data import fetch_ohlcv_to_cache

    return _cached_download(args, fetch_ohlcv_to_cache, args.timeframe)


def _funding(args: argparse.Namespace) -> int:
    from nzeza.data.funding import download_funding

    return _cached_download(args, download_funding)


def _mark(args: argparse.Namespace) -> int:
    from nzeza.data.funding import download_mark

    return _cached_download(args, download_mark, args.timeframe)


__all__ = [
    "register",
]
