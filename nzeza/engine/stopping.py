"""A session's graceful stop: its open orders per `on_stop`, the final snapshot, the record.

Run by `Session.run` once the feed loop has ended (SIGTERM, SIGINT, the kill switch, the end of
the feed). Only this session's orders are touched (client id prefix): a venue account is shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nzeza.engine.orders import follow, order_from_view, order_prefix
from nzeza.errors import VenueError
from nzeza.ops.logging import get_logger
from nzeza.venues.base import VenueOrder

if TYPE_CHECKING:
    from nzeza.engine.session import Session

log = get_logger("nzeza.engine.session")

FEED_ENDED = "feed ended"  # SessionReport.stopped_by when the feed ran out by itself


async def open_orders(session: Session) -> list[VenueOrder]:
    """This session's orders still working at the venue."""
    prefix = order_prefix(session.cfg.session_id)
    try:
        views = await session.venue.fetch_open_orders(session.cfg.instrument.id)
    except VenueError as exc:
        session.note_venue_error(exc)
        log.error("cannot list open orders at stop", extra={"error": str(exc)})
        return []
    return [v for v in views if v.client_order_id.startswith(prefix)]


async def handle_open_orders(session: Session) -> None:
    """Cancel (booking the fills that came first) or keep each open order, per `on_stop`."""
    inst = session.cfg.instrument
    sid = session.cfg.session_id
    ledger, report = session.ledger, session.report
    for view in await open_orders(session):
        cid = view.client_order_id
        order = session.working_orders.get(cid)
        if order is None:  # sent by an earlier run: as the venue and the ledger know it
            order = order_from_view(view, inst)
            if order is not None:
                follow(order, view, ledger.fills(sid))
        if session.cfg.on_stop == "keep":
            report.kept_orders.append(cid)
            if order is not None:
                ledger.record_order(sid, order, "kept", {"at": "stop"})
            log.warning("open order kept working at stop", extra={"client_order_id": cid})
            continue
        try:
            done = await session.venue.cancel(inst.id, client_order_id=cid)
        except VenueError as exc:
            session.note_venue_error(exc)
            report.kept_orders.append(cid)
            log.error("cancel at stop failed", extra={"client_order_id": cid, "error": str(exc)})
            continue
        if order is not None:
            await session.book_fills(order, done)  # fills that came before the cancel
            follow(order, done)
            ledger.record_order(sid, order, "canceled", {"at": "stop"})
        session.working_orders.pop(cid, None)
        report.canceled_orders.append(cid)


async def shutdown(session: Session) -> None:
    """Open orders per `on_stop`, then the final snapshot and the stop in the ledger.

    The final snapshot (a `session_stop` audit record) is marked at the last trade seen: the
    equity_snapshots table stays one row per closed bar (promotion gates count bars with it);
    positions and balances in the ledger are current after every fill.
    """
    sid = session.cfg.session_id
    inst = session.cfg.instrument
    report = session.report
    await handle_open_orders(session)
    if report.last_close is not None:
        report.final_equity = session.trader.equity(report.last_close)
    snap = session.portfolio.snapshot()
    final: dict[str, Any] = {"reason": report.stopped_by, "on_stop": session.cfg.on_stop}
    if session.last_trade is not None:
        price, ts = session.last_trade
        eq = session.trader.equity(price)
        exp = snap.exposure({inst.id: price})
        final.update(equity=str(eq), mark=str(price), ts=ts, gross=str(exp.gross), net=str(exp.net))
        if session.metrics is not None:
            session.metrics.equity.set(float(eq))
    final.update(
        cash=str(snap.cash),
        position=str(snap.position(inst.id).quantity),
        canceled_orders=report.canceled_orders,
        kept_orders=report.kept_orders,
    )
    session.ledger.audit("session_stop", final, sid)
    # the feed ran out: finished; anything that cut it short (signal, kill switch, stop()):
    # stopped — either way with the reason
    status = "finished" if report.stopped_by == FEED_ENDED else "stopped"
    session.ledger.set_session_status(sid, status, report.stopped_by)
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
