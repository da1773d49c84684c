"""The daily-loss breaker: realized + unrealized − fees since the UTC day (or session) start.

Sans-I/O: `update(pnl, now_ns)` is fed the portfolio's total PnL and the clock. At the first
update of a period it takes that PnL as the baseline; the loss is baseline − pnl. When the loss
reaches the limit (loss ≥ limit) the breaker trips and stays tripped until the next period
(or `reset()`); while tripped, risk-increasing orders are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from nzeza.domain.numbers import NS_PER_DAY, ZERO


@dataclass
class DailyLossBreaker:
    """Tracks the loss of the current period against `limit` (portfolio currency, positive)."""

    limit: Decimal
    period: str = "utc_day"  # or "session": one period for the whole run
    baseline: Decimal | None = None
    period_key: int | None = None
    tripped: bool = False
    tripped_at_ns: int | None = None
    last_loss: Decimal = ZERO

    def _key(self, now_ns: int) -> int:
        return now_ns // NS_PER_DAY if self.period == "utc_day" else 0

    def starts_period(self, now_ns: int) -> bool:
        """True when an update at `now_ns` would start a new period (a new baseline)."""
        return self._key(now_ns) != self.period_key

    def update(self, pnl: Decimal, now_ns: int) -> bool:
        """Feed the current total PnL; returns True exactly when this update trips the breaker."""
        key = self._key(now_ns)
        if key != self.period_key:
            self.period_key, self.baseline = key, pnl
            self.tripped, self.tripped_at_ns = False, None
        assert self.baseline is not None
        self.last_loss = self.baseline - pnl
        if not self.tripped and self.last_loss >= self.limit:
            self.tripped, self.tripped_at_ns = True, now_ns
            return True
        return False

    def reset(self) -> None:
        """Manual re-arm (an operator decision); the baseline restarts at the next update."""
        self.tripped, self.tripped_at_ns, self.period_key, self.baseline = False, None, None, None


__all__ = [
    "DailyLossBreaker",
]
