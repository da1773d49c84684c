"""Published maker/taker fee schedules of the venues nzeza trades, as data.

Each `Schedule` holds a venue's base-tier maker and taker rates and the volume tiers that could
be confirmed, with the page each number was read from and the day it was read. Rates are
fractions (0.001 = 10 bps); volumes are in the quote currency (USD or a USD stablecoin) over
the venue's window (`window_days`: 30, except Hyperliquid's 14-day weighted volume).

What is not here, on purpose (a schedule states only what a source confirmed):

- discounts (BNB on Binance, HYPE staking or referrals on Hyperliquid), holdings conditions
  (Binance's BNB balance), market-share rebate tiers (dYdX, Hyperliquid) and promotions;
- tiers whose numbers the sources read disagree on, or could not be read from a page of the
  venue: `confirmed_below` is the 30-day volume from which the schedule no longer knows the
  rates, and `Costs.for_venue` refuses a volume at or above it (0: only the base tier is known)
  rather than guessing.

Fees change; these are what the pages said on `read`. `nzeza config fees` prints the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nzeza.errors import ValidationError

READ = "2026-12-02"  # the day these schedules were read (the `search` corpus of stored pages)


@dataclass(frozen=True, slots=True)
class Schedule:
    """One venue's published fee schedule: `tiers` are (volume, maker, taker) rows from 0."""

    venue: str
    market: str
    tiers: tuple[tuple[float, float, float], ...]
    sources: tuple[str, ...]
    read: str
    window_days: int = 30
    confirmed_below: float = math.inf
    note: str = ""

    @property
    def maker(self) -> float:
        return self.tiers[0][1]

    @property
    def taker(self) -> float:
        return self.tiers[0][2]

    def tier_for(self, volume: Any) -> tuple[float, float, float]:
        """The (volume, maker, taker) tier a window volume reaches (the highest tier whose
        volume is ≤ it); a volume the schedule cannot confirm is a `ValidationError`."""
        v = math.nan if isinstance(volume, bool) else _float(volume)
        if not (math.isfinite(v) and v >= 0):
            raise ValidationError("volume_30d", volume, "must be a non-negative amount")
        if v > 0 and v >= self.confirmed_below:
            known = (
                "only its base tier is known"
                if self.confirmed_below == 0
                else f"its tiers are confirmed below {self.confirmed_below:,.0f} only"
            )
            raise ValidationError(
                "volume_30d",
                volume,
                f"{self.venue}: {known} ({self.note or 'see nzeza config fees'}); "
                "give the rates with --maker-fee/--taker-fee",
            )
        return [t for t in self.tiers if t[0] <= v][-1]


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


_BINANCE_SPOT = (
    "https://i-binance.com/en/w/binance-vip-level",
    "http://www.cf-binance.com/en/posts/binance-vip-levels",
    "https://www.binance.bh/en-AE/square/post/32297519585338",
)
_BINANCE_USDM = (
    "https://www.binance.com/en/fee/futureFee (via huggingface.co/datasets/loweef/"
    "crypto-futures-fees, checked 2026-10-12)",
    "https://babianfox.com/en/kb/binance-futures-fee/",
    "https://i-binance.com/en/w/binance-vip-level",
)

SCHEDULES: dict[str, Schedule] = {
    s.venue: s
    for s in (
        Schedule(
            "binance",
            "spot",
            ((0, 0.001, 0.001), (1_000_000, 0.0009, 0.001), (5_000_000, 0.0008, 0.001)),
            _BINANCE_SPOT,
            READ,
            confirmed_below=20_000_000,
            note="VIP 3 and above: the pages read disagree (VIP 3 maker 0.042 % or 0.07 %, "
            "VIP 4 from 50M, 75M or 100M); pages of Binance itself were not in the corpus; "
            "Binance also grants a VIP level by BNB holdings",
        ),
        Schedule(
            "binanceusdm",
            "USDⓈ-M perpetual futures",
            ((0, 0.0002, 0.0005),),
            _BINANCE_USDM,
            READ,
            confirmed_below=0,
            note="VIP 1-5 rates agree across pages (0.016/0.040 … 0.008/0.027 %) but their "
            "volume thresholds were read only in BTC (an older schedule), not in USD",
        ),
        Schedule(
            "coinbase",
            "Advanced Trade spot",
            ((0, 0.006, 0.012),),
            (
                "https://help.coinbase.com/en/coinbase/trading-and-funding/advanced-trade/"
                "advanced-trade-fees",
                "https://raw.githubusercontent.com/api-evangelist/coinbase/refs/heads/main/"
                "plans/coinbase-plans-pricing.yml",
            ),
            READ,
            confirmed_below=0,
            note="base tier Intro 1 (under 1K USD 30-day volume) read from a generated summary "
            "citing Coinbase's fee page; Coinbase's own page shows the table only when "
            "signed in; the tiers between were not confirmed",
        ),
        Schedule(
            "kraken",
            "Kraken Pro spot",
            ((0, 0.0025, 0.004),),
            (
                "https://www.kraken.com/features/fee-schedule (via raw.githubusercontent.com/"
                "api-evangelist/kraken/refs/heads/main/plans/kraken-plans-pricing.yml)",
            ),
            READ,
            confirmed_below=0,
            note="entry tier 0.25/0.40 % and 0/0.10 % from 10M read from a summary citing "
            "Kraken's page; older pages show 0.16/0.26 %; the tiers between were not confirmed",
        ),
        Schedule(
            "hyperliquid",
            "perpetuals",
            (
                (0, 0.00015, 0.00045),
                (5_000_000, 0.00012, 0.0004),
                (25_000_000, 0.00008, 0.00035),
                (100_000_000, 0.00004, 0.0003),
                (500_000_000, 0.0, 0.00028),
                (2_000_000_000, 0.0, 0.00026),
                (7_000_000_000, 0.0, 0.00024),
            ),
            (
                "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees",
                "https://hypernode-docs.polynode.dev/research/fees",
                "https://sltp.gitbook.io/sltp-docs/documentation/perp-dexes-aggregator/"
                "perpetual-fee",
            ),
            READ,
            window_days=14,
            note="14-day weighted volume (perps + 2 × spot), tiers from > 5M (strictly above: "
            "nzeza's tiers start at their volume); the tier table was read from two pages "
            "that agree (a third, docs.hyperodd.com, prints the maker rates of tiers 0-3 "
            "negative), the official page confirmed the 14-day window; staking, referral "
            "and maker-share rebates not modelled",
        ),
        Schedule(
            "dydx",
            "v4 perpetuals",
            (
                (0, 0.0001, 0.0005),
                (1_000_000, 0.0001, 0.00045),
                (5_000_000, 0.00005, 0.0004),
                (25_000_000, 0.0, 0.00035),
                (125_000_000, 0.0, 0.0003),
            ),
            ("https://docs.dydx.exchange/introduction-trading_fees",),
            READ,
            note="set by chain governance (query /dydxprotocol/v4/feetiers/perpetual_fee_params "
            "for today's); the rebate tiers 6-9 need an exchange or maker market share, not "
            "modelled; a 2025 forum proposal would simplify the tiers",
        ),
    )
}


def schedule(venue: Any) -> Schedule:
    """The schedule of `venue` (a name of `SCHEDULES`), else a `ValidationError` listing them."""
    key = venue.strip().lower() if isinstance(venue, str) else venue
    if not isinstance(key, str) or key not in SCHEDULES:
        raise ValidationError("fees", venue, f"unknown venue; known: {', '.join(SCHEDULES)}")
    return SCHEDULES[key]


def fee_table() -> str:
    """The schedules as a plain-text table (`nzeza config fees`)."""
    lines = [f"fee schedules as read on {READ}: rates in % of notional, volume in quote"]
    for s in SCHEDULES.values():
        lines.append("")
        lines.append(f"{s.venue} ({s.market}), {s.window_days}-day volume")
        lines.append(f"  {'volume from':>16s} {'maker %':>9s} {'taker %':>9s}")
        for vol, maker, taker in s.tiers:
            lines.append(f"  {vol:16,.0f} {maker * 100:9.4f} {taker * 100:9.4f}")
        if math.isfinite(s.confirmed_below):
            lines.append(
                f"  not confirmed from {s.confirmed_below:,.0f}"
                if s.confirmed_below
                else "  only the base tier is confirmed"
            )
        if s.note:
            lines.append(f"  note: {s.note}")
        lines.extend(f"  source: {u}" for u in s.sources)
    return "\n".join(lines)


__all__ = [
    "READ",
    "SCHEDULES",
    "Schedule",
    "fee_table",
    "schedule",
]
