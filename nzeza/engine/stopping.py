"""A session's graceful stop: its open orders per `on_stop`, the final snapshot, the record.

Run by `Session.run` once the feed loop has ended (SIGTERM, SIGINT, the kill switch, the end of
the feed). The open orders go through the session's `OrderFlow` (only this session's orders are
touched: a venue account is shared); the final snapshot and the status end the ledger's story.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.engine.orderflow import OrderFlow
from nzeza.ops.logging import get_logger

if TYPE_CHECKING:
    from nzeza.ops.metrics import Metrics


log = get_logger("nzeza.engine.session")

FEED_ENDED = "feed ended"  # SessionReport.stopped_by when the feed ran out by itself


async def shutdown(
    flow: OrderFlow,
    on_stop: str,
    last_trade: tuple[Decimal, int] | None,
    metrics: Metrics | None = None,
) -> None:
    """Open orders per `on_stop`, then the final snapshot and the stop in the ledger.

    The final snapshot (a `session_stop` audit record) is marked at the last trade seen
    (`last_trade`: price, exchange ts): the equity_snapshots table stays one row per closed bar
    (promotion gates count bars with it); positions and balances in the ledger are current after
    every fill.
    """
    sid = flow.cfg.session_id
    inst = flow.cfg.instrument
    report = flow.report
    await flow.handle_open_orders(on_stop)
    if report.last_close is not None:
        report.final_equity = flow.trader.equity(report.last_close)
    snap = flow.portfolio.snapshot()
    final: dict[str, Any] = {"reason": report.stopped_by, "on_stop": on_stop}
    if last_trade is not None:
        price, ts = last_trade
        eq = flow.trader.equity(price)
        exp = snap.exposure({inst.id: price})
        final.update(equity=str(eq), mark=str(price), ts=ts, gross=str(exp.gross), net=str(exp.net))
        if metrics is not None:
            metrics.equity.set(float(eq))
    final.update(
        cash=str(snap.cash),
        position=str(snap.position(inst.id).quantity),
        canceled_orders=report.canceled_orders,
        kept_orders=report.kept_orders,
    )
    flow.ledger.audit("session_stop", final, sid)
    # the feed ran out: finished; anything that cut it short (signal, kill switch, stop()):
    # stopped — either way with the reason
    status = "finished" if report.stopped_by == FEED_ENDED else "stopped"
    flow.ledger.set_session_status(sid, status, report.stopped_by)
    log.info(
        "session stopped",
        extra={
            "reason": report.stopped_by,
            "bars": report.bars,
            "fills": report.fills,
            "canceled_orders": len(report.canceled_orders),
            "kept_orders": len(report.kept_orders),
        },
    )


__all__ = [
    "FEED_ENDED",
    "shutdown",
]
