"""Capture files: one message a line, `<local receive time in ns> <json>`, optionally gzipped.

This is the format of the bundled real captures (`nzeza/feeds/captures/`, see its NOTICE.md),
of `nzeza feed record`, and what `nzeza feed replay` serves.
"""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from nzeza.errors import DataError

CAPTURES_DIR = Path(__file__).with_name("captures")

BINANCE_BTCUSDT = (
    "binance_spot_btcusdt_20240808.jsonl.gz",
    "binance_spot_btcusdt_20240809.jsonl.gz",
)
BINANCE_ETHUSDT = ("binance_spot_ethusdt_20240808.jsonl.gz",)
HYPERLIQUID_BTC = "hyperliquid_btc_20250126.jsonl.gz"


def bundled(name: str) -> Path:
    """Path of a capture shipped with the package; DataError naming the choices if absent."""
    path = CAPTURES_DIR / name
    if not path.is_file():
        have = sorted(p.name for p in CAPTURES_DIR.glob("*.jsonl*"))
        raise DataError(f"no bundled capture {name!r}; available: {have}")
    return path


def _open(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open("r", encoding="utf-8")


def read_capture(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield (receive_ns, raw_json) per line. DataError names the file and line on bad lines."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"capture file not found: {path}")
    with _open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            head, sep, body = line.partition(" ")
            if not sep or not head.isdigit():
                raise DataError(f"{path}:{lineno}: expected '<ns> <json>', got {line[:60]!r}")
            yield int(head), body


@dataclass(frozen=True)
class CaptureInfo:
    """Whose format a capture is in, and the symbols its trades are of (venue spelling)."""

    venue: str
    trade_symbols: tuple[str, ...]


def sniff(path: str | Path, messages: int = 500) -> CaptureInfo:
    """The venue whose parser reads the first `messages` messages of a capture as market data
    (the most of them), and the symbols of the trades among them. DataError if none does."""
    from importlib import import_module

    from nzeza.errors import ParseError
    from nzeza.feeds.events import (
        BestBidAsk,
        BookDelta,
        BookSnapshot,
        FundingUpdate,
        Ticker,
        Trade,
    )
    from nzeza.ops.settings import VENUES

    market = (Trade, BookSnapshot, BookDelta, BestBidAsk, Ticker, FundingUpdate)
    sample = [raw for _, raw in islice(read_capture(path), messages)]
    best, best_score, best_symbols = "", 0, set()
    for venue in VENUES:
        parse = import_module(f"nzeza.feeds.{venue}").parse
        score, symbols = 0, set[str]()
        for raw in sample:
            try:
                events = parse(raw)
            except ParseError:
                continue
            score += any(type(ev) in market for ev in events)
            symbols.update(ev.symbol for ev in events if type(ev) is Trade)
        if score > best_score:
            best, best_score, best_symbols = venue, score, symbols
    if not best:
        raise DataError(f"{path}: no venue parser reads its first {len(sample)} messages")
    return CaptureInfo(best, tuple(sorted(best_symbols)))


@dataclass
class EventSummary:
    """What a capture holds once parsed: events by type, messages that did not parse, and the
    last funding rate and mark seen per symbol (`FundingUpdate`)."""

    venue: str
    messages: int = 0
    unparsed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    funding: dict[str, Any] = field(default_factory=dict)  # symbol -> last FundingUpdate

    def __str__(self) -> str:
        kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(self.counts.items()))
        text = f"{self.venue}: {self.messages:,} messages ({kinds or 'no events'})"
        if self.unparsed:
            text += f", {self.unparsed:,} unparsed"
        for sym, ev in sorted(self.funding.items()):
            mark = "" if ev.mark is None else f" mark {ev.mark}"
            nxt = ""
            if ev.next_funding_ns is not None:
                from datetime import UTC, datetime

                when = datetime.fromtimestamp(ev.next_funding_ns / 1e9, tz=UTC)
                nxt = f" next funding {when:%Y-%m-%d %H:%M}Z"
            text += f"\n  funding {sym}: rate {ev.funding_rate}{mark}{nxt}"
        return text


def venue_parser(venue: str) -> Callable[..., list[Any]]:
    """A fresh parser for one connection's (or one capture's) messages of `venue`."""
    from importlib import import_module

    if venue == "dydx":
        from nzeza.feeds.dydx import DydxParser

        return DydxParser().parse
    if venue == "coinbase":
        from nzeza.feeds.coinbase import CoinbaseParser

        return CoinbaseParser().parse
    return import_module(f"nzeza.feeds.{venue}").parse


def event_summary(paths: Iterable[str | Path], venue: str | None = None) -> EventSummary:
    """Parse captures with `venue`'s parser (sniffed from the first file when None) and count
    what they hold (`nzeza feed record` and `replay` print it)."""
    from nzeza.errors import ParseError
    from nzeza.feeds.events import FundingUpdate

    files = [Path(p) for p in paths]
    if venue is None:
        venue = sniff(files[0]).venue
    parse = venue_parser(venue)
    summary = EventSummary(venue)
    for path in files:
        for ns, raw in read_capture(path):
            summary.messages += 1
            try:
                events = parse(raw, ns)
            except ParseError:
                summary.unparsed += 1
                continue
            for ev in events:
                name = type(ev).__name__
                summary.counts[name] = summary.counts.get(name, 0) + 1
                if type(ev) is FundingUpdate:
                    summary.funding[ev.symbol] = ev
    return summary


class CaptureWriter:
    """Append messages to a capture file in `<ns> <json>` lines (gzip if the name ends .gz)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix == ".gz":
            self._fh: TextIO = io.TextIOWrapper(gzip.open(self.path, "ab"), encoding="utf-8")  # noqa: SIM115
        else:
            self._fh = self.path.open("a", encoding="utf-8")
        self.count = 0

    def write(self, raw: str | bytes, recv_ns: int | None = None) -> None:
        """Write one message; `recv_ns` defaults to now. Newlines inside are not allowed."""
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        if "\n" in text:
            text = text.replace("\n", " ")
        ns = time.time_ns() if recv_ns is None else recv_ns
        self._fh.write(f"{ns} {text}\n")
        self.count += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "BINANCE_BTCUSDT",
    "BINANCE_ETHUSDT",
    "CAPTURES_DIR",
    "HYPERLIQUID_BTC",
    "CaptureInfo",
    "CaptureWriter",
    "EventSummary",
    "bundled",
    "event_summary",
    "read_capture",
    "sniff",
    "venue_parser",
]
