"""The exchange-made check of a local book: venue top-of-book events against the book.

Binance's `bookTicker` carries `u`, the book update id it reflects. When a correct local book's
last applied id equals that `u`, its best bid/ask must equal the ticker's prices and sizes
exactly. `BookTickerCheck` holds tickers until the book reaches their id and counts matches and
mismatches; tickers whose id the book skips past (ids inside a diff batch) cannot be checked
and are counted as `skipped`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nzeza.feeds.book import OrderBook
from nzeza.feeds.events import BestBidAsk


@dataclass
class Mismatch:
    """One failed comparison, kept for the error report."""

    update_id: int
    ticker: tuple
    book: tuple


@dataclass
class BookTickerCheck:
    """Compare `BestBidAsk` events with an `OrderBook` at the ids the book reaches."""

    book: OrderBook
    checks: int = 0
    skipped: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    _pending: dict[int, BestBidAsk] = field(default_factory=dict)

    def on_ticker(self, ticker: BestBidAsk) -> None:
        """Remember a ticker; check it at once if the book is already at its id."""
        if ticker.update_id is None:
            return
        self._pending[ticker.update_id] = ticker
        self.after_apply()

    def after_apply(self) -> None:
        """Call after every book event: checks the ticker for the book's id, drops stale ones."""
        book = self.book
        uid = book.last_update_id
        if uid is None or not book.in_sync or not self._pending:
            return
        ticker = self._pending.pop(uid, None)
        if ticker is not None:
            self._compare(ticker)
        if len(self._pending) > 64 or (self._pending and min(self._pending) < uid):
            for key in [k for k in self._pending if k < uid]:
                del self._pending[key]
                self.skipped += 1

    def _compare(self, t: BestBidAsk) -> None:
        self.checks += 1
        bid, ask = self.book.best_bid(), self.book.best_ask()
        want = ((t.bid_price, t.bid_size), (t.ask_price, t.ask_size))
        if (bid, ask) != want:
            self.mismatches.append(Mismatch(t.update_id or 0, want, (bid, ask)))

    def reset_pending(self) -> None:
        """Forget held tickers (after a reconnect their ids may never be reached)."""
        self.skipped += len(self._pending)
        self._pending.clear()

    @property
    def ok(self) -> bool:
        return not self.mismatches


__all__ = ["BookTickerCheck", "Mismatch"]
