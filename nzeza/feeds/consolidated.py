"""A consolidated price across venues: median of fresh sources, outliers excluded.

Sans-I/O: feed `update(source, price, ts_ns)` and ask `quote(now_ns)`. A source is stale when
its last price is older than `max_age_ns`; among fresh sources the median is taken, sources
further than `max_deviation` (a fraction, e.g. 0.005 = 50 bp) from it are excluded, and the
median of the rest is the price. The quote names the contributors and why others were left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median

from nzeza.errors import ValidationError


@dataclass(frozen=True, slots=True)
class ConsolidatedQuote:
    """Result: `price` is None when fewer than `min_sources` sources contribute."""

    price: Decimal | None
    contributors: tuple[str, ...]
    excluded: dict[str, str] = field(default_factory=dict)


class ConsolidatedPrice:
    """Median-based price over several sources (venues)."""

    def __init__(
        self,
        max_age_ns: int = 5_000_000_000,
        max_deviation: Decimal | str = Decimal("0.005"),
        min_sources: int = 1,
    ) -> None:
        self.max_age_ns = max_age_ns
        self.max_deviation = Decimal(max_deviation)
        self.min_sources = min_sources
        self._last: dict[str, tuple[Decimal, int]] = {}

    def update(self, source: str, price: Decimal, ts_ns: int) -> None:
        """Record a source's latest price (older updates than the held one are ignored)."""
        if not price.is_finite() or price <= 0:
            raise ValidationError(f"price[{source}]", price, "must be positive and finite")
        held = self._last.get(source)
        if held is None or ts_ns >= held[1]:
            self._last[source] = (price, ts_ns)

    def quote(self, now_ns: int) -> ConsolidatedQuote:
        """The consolidated price at `now_ns` with its contributors."""
        excluded: dict[str, str] = {}
        fresh: dict[str, Decimal] = {}
        for source, (price, ts) in sorted(self._last.items()):
            if now_ns - ts > self.max_age_ns:
                excluded[source] = f"stale: {(now_ns - ts) / 1e9:.3f}s old"
            else:
                fresh[source] = price
        if not fresh:
            return ConsolidatedQuote(None, (), excluded)
        mid = median(fresh.values())
        inliers = {}
        for source, price in fresh.items():
            dev = abs(price - mid) / mid
            if dev > self.max_deviation:
                excluded[source] = f"outlier: {dev * 10_000:.1f} bp from median {mid}"
            else:
                inliers[source] = price
        if len(inliers) < self.min_sources:
            return ConsolidatedQuote(None, tuple(inliers), excluded)
        return ConsolidatedQuote(median(inliers.values()), tuple(inliers), excluded)


__all__ = ["ConsolidatedPrice", "ConsolidatedQuote"]
