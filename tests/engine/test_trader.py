"""The Trader after a resume: no decision on a window shorter than the one it had.

A session restarted on a live venue feed cannot get its bar history back; fed a short window,
an SMA strategy sees nothing (NaN → flat) and the session would close the position it holds.
Before: the first bar after the restart decided "flat" and sent the closing order.
"""

from __future__ import annotations

from decimal import Decimal

from support.toy_strategies import SmaLike

from nzeza.domain import Costs
from nzeza.engine.bars import Bar
from nzeza.engine.recovery import rebuild
from nzeza.engine.runner import session_instrument
from nzeza.engine.trader import Trader
from nzeza.store import Ledger

COSTS = Costs(0.001, 0.0005)
INST = session_instrument("BTCUSDT")
TF = 1_000_000_000


def rising(n: int, start: int = 0) -> list[Bar]:
    return [Bar((start + i) * TF, 100.0 + i, 100.5 + i, 99.5 + i, 100.0 + i, 1.0) for i in range(n)]


def first_run(ledger: Ledger, bars: int) -> Trader:
    ledger.start_session(
        "s", mode="live", strategy="SmaLike", params={}, venue="paper", currency="USDT",
        initial_balances={"USDT": Decimal(10_000)}, config={},
    )  # fmt: skip
    rec = rebuild(ledger, "s", INST)
    trader = Trader(SmaLike(), INST, COSTS, rec.portfolio, session_id="s", ledger=ledger)
    for bar in rising(bars):
        trader.on_bar_close(bar)
        ledger.record_equity("s", bar.ts, Decimal(10_000), Decimal(10_000), 0, 0)
        if trader.pending is not None:
            trader.intent_at(Decimal(str(bar.close)))
    return trader


def test_a_resumed_trader_holds_until_its_window_is_rebuilt(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        before = first_run(ledger, 30)
        assert before.seq == 1 and before.last_target == 1  # went long at bar 20
        rec = rebuild(ledger, "s", INST)
        resumed = Trader(SmaLike(), INST, COSTS, rec.portfolio, session_id="s", ledger=ledger)
        resumed.restore_target(rec.last_target)
        new_bars = rising(25, start=100)  # the live feed goes on; no history before it
        for bar in new_bars[:19]:
            resumed.on_bar_close(bar)
            assert resumed.pending is None  # would have been "flat" on a short window
        for bar in new_bars[19:]:
            resumed.on_bar_close(bar)
        assert resumed.last_target == 1 and resumed.pending is None  # still long: rising


def test_a_trader_resumed_early_holds_only_as_long_as_the_session_had_run(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        first_run(ledger, 21)
        rec = rebuild(ledger, "s", INST)
        resumed = Trader(SmaLike(), INST, COSTS, rec.portfolio, session_id="s", ledger=ledger)
        resumed.restore_target(rec.last_target)
        assert resumed._hold_until == 20  # min(warmup, 21 bars recorded)
    with Ledger(f"sqlite:///{tmp_path / 'fresh.sqlite'}") as ledger:
        fresh = first_run(ledger, 0)
        fresh.restore_target(Decimal(0))
        assert fresh._hold_until == 0  # nothing traded: nothing to hold
