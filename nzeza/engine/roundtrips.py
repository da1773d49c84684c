"""Round-trip trades from a fill sequence, with vectorbt's exit-trade convention.

A trade opens with the first fill of a position and is closed piecewise: every reducing fill
produces one trade record of the reduced size, whose entry price is the average entry of the
position so far and whose entry fees are the pro-rated share of the entry fees. A fill that
flips the position closes the trade and opens the next one with the remainder.

The frame has the columns of `nzeza.research.backtest`'s `.trades` (`TRADE_COLUMNS`, with
`return` = pnl / entry value and `status` closed/open): closed trades in order, then the open one
(if any) marked at the last close, exit time = that bar's time — vectorbt's convention.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from nzeza.domain import Fill
from nzeza.domain.numbers import ZERO
from nzeza.research.backtest import TRADE_COLUMNS  # one trade table shape: replay == backtest


@dataclass
class _Open:
    direction: int  # +1 long, -1 short
    entry_ts: int
    size: Decimal = ZERO
    gross: Decimal = ZERO
    fees: Decimal = ZERO


def trades_from_fills(
    fills: Iterable[Fill], mark: Decimal | None = None, mark_ts: int | None = None
) -> pd.DataFrame:
    """Closed trades (and the open one marked at `mark`, if given) as a DataFrame."""
    rows: list[dict] = []
    cur: _Open | None = None
    for f in fills:
        sign = 1 if f.side.value == "buy" else -1
        qty, fee = f.quantity, f.fee
        while qty > 0:
            if cur is None:
                cur = _Open(direction=sign, entry_ts=f.ts)
            if sign == cur.direction:  # increase
                cur.size += qty
                cur.gross += qty * f.price
                cur.fees += fee
                qty = ZERO
                continue
            closed = min(qty, cur.size)
            share = closed / qty
            exit_fee = fee * share
            rows.append(_row(cur, closed, f.price, exit_fee, f.ts))
            entry_fee_part = cur.fees * closed / cur.size
            cur.gross -= cur.gross / cur.size * closed
            cur.fees -= entry_fee_part
            cur.size -= closed
            qty -= closed
            fee -= exit_fee
            if cur.size == 0:
                cur = None
    if cur is not None and mark is not None:
        row = _row(cur, cur.size, mark, ZERO, mark_ts if mark_ts is not None else cur.entry_ts)
        row["status"] = "open"
        rows.append(row)
    frame = pd.DataFrame(rows, columns=TRADE_COLUMNS)
    for col in ("entry_time", "exit_time"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    for col in ("side", "status"):  # object, as vectorbt's records are
        frame[col] = frame[col].astype(object)
    return frame


def _row(cur: _Open, size: Decimal, exit_price: Decimal, exit_fee: Decimal, exit_ts: int) -> dict:
    entry_price = cur.gross / cur.size
    entry_fee = cur.fees * size / cur.size
    pnl = (exit_price - entry_price) * size * cur.direction - entry_fee - exit_fee
    return {
        "entry_time": pd.Timestamp(cur.entry_ts, unit="ns", tz="UTC"),
        "exit_time": pd.Timestamp(exit_ts, unit="ns", tz="UTC"),
        "side": "long" if cur.direction > 0 else "short",
        "entry_price": float(entry_price),
        "exit_price": float(exit_price),
        "size": float(size),
        "pnl": float(pnl),
        "fees": float(entry_fee + exit_fee),
        "return": float(pnl / (size * entry_price)),
        "status": "closed",
    }


def closed_only(trades: pd.DataFrame) -> pd.DataFrame:
    """The closed trades of a trades frame (research's or the engine's)."""
    if "status" not in trades:
        return trades
    return trades[trades["status"].astype(str) == "closed"].reset_index(drop=True)


def open_only(trades: pd.DataFrame) -> pd.DataFrame:
    """The open trade (at most one per instrument), marked at the last close."""
    if "status" not in trades:
        return trades.iloc[:0]
    return trades[trades["status"].astype(str) == "open"].reset_index(drop=True)


def sequence_of(fills: Sequence[Fill]) -> list[tuple[int, str, Decimal, Decimal]]:
    return [(f.ts, f.side.value, f.quantity, f.price) for f in fills]


__all__ = [
    "closed_only",
    "open_only",
    "sequence_of",
    "trades_from_fills",
]
