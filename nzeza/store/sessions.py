"""Sessions, the write-ahead journal of intents and client order ids."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from nzeza.errors import ValidationError
from nzeza.store import schema as s
from nzeza.store.connection import insert_ignore
from nzeza.store.statements import canonical_json, ins, upd
from nzeza.store.transactions import LedgerCore
from nzeza.store.writebuffer import DuplicateRow


class SessionStore(LedgerCore):
    """Sessions (start, status), intents journaled before their orders exist, client ids."""

    # -- sessions -------------------------------------------------------------------------
    def start_session(
        self,
        session_id: str,
        *,
        mode: str,
        strategy: str,
        params: Mapping[str, Any],
        venue: str,
        currency: str,
        initial_balances: Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
    ) -> bool:
        """Create the session; returns False if it exists already (a restart: it is resumed)."""
        now = self.clock()
        try:
            with self.transaction() as conn:
                conn.execute(
                    ins(s.sessions),
                    dict(
                        session_id=session_id,
                        mode=mode,
                        strategy=strategy,
                        params=canonical_json(dict(params)),
                        venue=venue,
                        currency=currency,
                        initial_balances=canonical_json(
                            {k: str(v) for k, v in initial_balances.items()}
                        ),
                        status="running",
                        started_ns=now,
                        updated_ns=now,
                        config=canonical_json(dict(config or {})),
                    ),
                )
                self.audit(
                    "session_started",
                    {"mode": mode, "strategy": strategy, "params": dict(params), "venue": venue},
                    session_id,
                    conn,
                )
        except IntegrityError:
            existing = self.session(session_id)
            if existing is None:
                raise
            if existing["strategy"] != strategy or json.loads(existing["params"]) != json.loads(
                canonical_json(dict(params))
            ):
                raise ValidationError(
                    "session_id",
                    session_id,
                    "exists with a different strategy or parameters; use a new session id",
                ) from None
            self.set_session_status(session_id, "running", reason="resumed")
            return False
        return True

    def session(self, session_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(
                select(s.sessions).where(s.sessions.c.session_id == session_id)
            ).first()
        return dict(row._mapping) if row else None

    def sessions(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(select(s.sessions).order_by(s.sessions.c.started_ns))
            return [dict(r._mapping) for r in rows]

    def set_session_status(self, session_id: str, status: str, reason: str = "") -> None:
        with self.transaction() as conn:
            conn.execute(
                upd(s.sessions, ("session_id",)),
                {"k_session_id": session_id, "status": status, "updated_ns": self.clock()},
            )
            self.audit("session_status", {"status": status, "reason": reason}, session_id, conn)

    # -- intents (write-ahead journal) ----------------------------------------------------
    def journal_intent(
        self,
        session_id: str,
        seq: int,
        client_order_id: str,
        instrument_id: str,
        side: str,
        quantity: Decimal,
        order_type: str,
        price: Decimal | None,
        bar_ts: int,
        target: Decimal | None = None,
    ) -> bool:
        """Journal an intent before its order is sent. False if this seq was journaled already
        (inside a batch: already in the batch; a duplicate of a committed row fails the flush)."""
        row = dict(
            session_id=session_id,
            seq=seq,
            client_order_id=client_order_id,
            instrument_id=instrument_id,
            side=side,
            quantity=str(quantity),
            order_type=order_type,
            price=None if price is None else str(price),
            bar_ts=bar_ts,
            created_ns=self.clock(),
            status="journaled",
            target=None if target is None else str(target),
        )
        try:
            with self._held() as buf:
                if (session_id, seq) in buf.intent_keys or client_order_id in buf.intent_ids:
                    return False
                buf.intent_keys.add((session_id, seq))
                buf.intent_ids.add(client_order_id)
                buf.insert(s.intents, row)  # its row's digest is its audit record
        except DuplicateRow as exc:  # a committed intent (a batch reports it at its commit)
            if exc.table != "intents":
                raise
            return False
        return True

    def mark_intent(self, client_order_id: str, status: str) -> None:
        with self._held() as buf:
            buf.update(s.intents, {"client_order_id": client_order_id}, {"status": status})

    def mark_bar(self, session_id: str, bar_ts: int) -> None:
        """Record that every effect of the bar at `bar_ts` is in the ledger (resume point)."""
        values = {"last_bar_ts": bar_ts, "updated_ns": self.clock()}
        with self._held() as buf:
            buf.update(s.sessions, {"session_id": session_id}, values)

    def intents(self, session_id: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(s.intents)
                .where(s.intents.c.session_id == session_id)
                .order_by(s.intents.c.seq)
            )
            return [dict(r._mapping) for r in rows]

    # -- client order ids without a session prefix (schema v5) -----------------------------
    def claim_client_id(
        self, venue: str, client_order_id: str, session_id: str, seq: str
    ) -> tuple[str, str]:
        """Give `client_order_id` on `venue` to (session, seq) unless it is taken; returns its
        owner (session, seq), which is the caller when the claim held (or was made before)."""
        row = {
            "venue": venue,
            "client_order_id": client_order_id,
            "session_id": session_id,
            "seq": seq,
            "created_ns": self.clock(),
        }
        with self.transaction() as conn:
            # taken already (by this decision before a restart, or by another): keep the owner
            conn.execute(insert_ignore(conn, s.client_order_ids).values(**row))
        with self._read() as conn:
            owner = conn.execute(
                select(s.client_order_ids.c.session_id, s.client_order_ids.c.seq).where(
                    s.client_order_ids.c.venue == venue,
                    s.client_order_ids.c.client_order_id == client_order_id,
                )
            ).one()
        return str(owner[0]), str(owner[1])

    def client_ids(self, session_id: str, venue: str) -> list[str]:
        """The client order ids claimed by `session_id` on `venue`."""
        with self._read() as conn:
            rows = conn.execute(
                select(s.client_order_ids.c.client_order_id).where(
                    s.client_order_ids.c.session_id == session_id,
                    s.client_order_ids.c.venue == venue,
                )
            )
            return [str(r[0]) for r in rows]

    def last_intent_seq(self, session_id: str) -> int:
        with self._read() as conn:
            value = conn.execute(
                select(func.max(s.intents.c.seq)).where(s.intents.c.session_id == session_id)
            ).scalar()
        return int(value or 0)


__all__ = [
    "SessionStore",
]
