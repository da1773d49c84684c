"""Capture files: one message a line, `<local receive time in ns> <json>`, optionally gzipped.

This is the format of the bundled real captures (`nzeza/feeds/captures/`, see its NOTICE.md),
of `nzeza feed record`, and what `nzeza feed replay` serves.
"""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

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
    "CaptureWriter",
    "bundled",
    "read_capture",
]
