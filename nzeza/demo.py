"""The demo: the longest end-to-end path nzeza has, on bundled data, with no network.

Each stage prints what it did and where its output is. Later layers add stages here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

Stage = Callable[[Path, bool], str]


def _stage_settings(out: Path, quick: bool) -> str:
    from nzeza.ops.settings import describe, load_settings

    settings = load_settings(require_live=False)
    shown = describe(settings)
    return f"settings ok: profile={shown['profile']} mode={shown['mode']}"


def _stage_domain(out: Path, quick: bool) -> str:
    from decimal import Decimal

    from nzeza.domain import Fill, Instrument, Portfolio

    btc = Instrument("paper", "BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"))
    pf = Portfolio("USDT", {"USDT": 10_000}, [btc])
    fills = [("buy", "0.1", "60000"), ("sell", "0.15", "61000"), ("buy", "0.05", "59000")]
    for i, (side, qty, px) in enumerate(fills):
        fee = Decimal(qty) * Decimal(px) * Decimal("0.001")
        pf.apply_fill(
            Fill(f"t{i}", f"o{i}", btc.id, side, Decimal(qty), Decimal(px), fee, "USDT", i)
        )
    snap = pf.snapshot()
    equity = snap.equity({btc.id: Decimal("60000")})
    return f"domain ok: 3 fills, realized {snap.realized_pnl():.2f} USDT, equity {equity:.2f} USDT"


def _stage_data(out: Path, quick: bool) -> str:
    from nzeza.data import list_samples, load_sample, validate_ohlcv

    names = list(list_samples()["name"])
    bars = load_sample("btc_usd_1h")
    report = validate_ohlcv(bars, "1h")
    (out / "data_report.txt").write_text(str(report) + "\n")
    issues = sum(report.counts.values())
    return (
        f"data ok: {len(names)} bundled samples; btc_usd_1h {len(bars):,} bars, "
        f"{issues} validation issue(s) → {out / 'data_report.txt'}"
    )


STAGES: list[tuple[str, Stage]] = [
    ("settings", _stage_settings),
    ("domain", _stage_domain),
    ("data", _stage_data),
]


def run_demo(out: str | Path | None = None, quick: bool = False) -> int:
    out_dir = Path(out or "runs/demo")
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"nzeza demo → {out_dir.resolve()}")
    for name, stage in STAGES:
        t0 = time.perf_counter()
        summary = stage(out_dir, quick)
        print(f"  [{name}] {summary}  ({time.perf_counter() - t0:.1f}s)")
    print("demo finished")
    return 0
