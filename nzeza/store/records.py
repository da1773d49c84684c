"""Equity snapshots, risk events and promotion records."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from nzeza.store import schema as s
from nzeza.store.statements import canonical_json, ins
from nzeza.store.transactions import LedgerCore


class RecordStore(LedgerCore):
    """Equity curves, risk events and promotions."""

    # -- equity, risk events, promotions --------------------------------------------------
    def record_equity(
        self, session_id: str, ts: int, equity: Decimal, cash: Decimal, gross: Decimal, net: Decimal
    ) -> None:
        row = dict(
            session_id=session_id,
            ts=ts,
            equity=str(equity),
            cash=str(cash),
            gross_exposure=str(gross),
            net_exposure=str(net),
        )
        with self._held() as buf:
            buf.insert(s.equity_snapshots, row)

    def equity_curve(self, session_id: str) -> list[tuple[int, Decimal]]:
        with self._read() as conn:
            rows = conn.execute(
                select(s.equity_snapshots.c.ts, s.equity_snapshots.c.equity)
                .where(s.equity_snapshots.c.session_id == session_id)
                .order_by(s.equity_snapshots.c.id)
            )
            return [(int(ts), Decimal(eq)) for ts, eq in rows]

    def exposure_curve(
        self, session_id: str
    ) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal]]:
        """(ts, equity, cash, gross exposure, net exposure) of every equity snapshot."""
        t = s.equity_snapshots
        with self._read() as conn:
            rows = conn.execute(
                select(t.c.ts, t.c.equity, t.c.cash, t.c.gross_exposure, t.c.net_exposure)
                .where(t.c.session_id == session_id)
                .order_by(t.c.id)
            )
            return [
                (int(ts), Decimal(eq), Decimal(cash), Decimal(gross), Decimal(net))
                for ts, eq, cash, gross, net in rows
            ]

    def record_risk_event(
        self,
        session_id: str,
        check: str,
        limit: Any,
        value: Any,
        detail: str = "",
        ts: int | None = None,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                ins(s.risk_events),
                dict(
                    session_id=session_id,
                    check_name=check,
                    limit_value=str(limit),
                    value=str(value),
                    detail=detail,
                    ts=ts if ts is not None else self.clock(),
                ),
            )
            self.audit(
                "risk_rejection",
                {"check": check, "limit": str(limit), "value": str(value), "detail": detail},
                session_id,
                conn,
            )

    def risk_events(self, session_id: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(s.risk_events)
                .where(s.risk_events.c.session_id == session_id)
                .order_by(s.risk_events.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def add_promotion(
        self,
        *,
        strategy: str,
        params: Mapping[str, Any],
        params_hash: str,
        target: str,
        data_fingerprint: str,
        notebook_hash: str,
        gates: Mapping[str, Any],
        passed: bool,
        binding: Mapping[str, Any] | None = None,
    ) -> int:
        with self.transaction() as conn:
            result = conn.execute(
                ins(s.promotions),
                dict(
                    strategy=strategy,
                    params_hash=params_hash,
                    params=canonical_json(dict(params)),
                    target=target,
                    data_fingerprint=data_fingerprint,
                    notebook_hash=notebook_hash,
                    gates=canonical_json(dict(gates)),
                    passed=int(passed),
                    created_ns=self.clock(),
                    binding=None if binding is None else canonical_json(dict(binding)),
                ),
            )
            promotion_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            self.audit(
                "promotion",
                {
                    "id": promotion_id,
                    "strategy": strategy,
                    "params_hash": params_hash,
                    "target": target,
                    "passed": passed,
                },
                None,
                conn,
            )
            return promotion_id

    def promotions(
        self,
        strategy: str | None = None,
        target: str | None = None,
        params_hash: str | None = None,
        passed_only: bool = False,
    ) -> list[dict[str, Any]]:
        q = select(s.promotions)
        if strategy:
            q = q.where(s.promotions.c.strategy == strategy)
        if target:
            q = q.where(s.promotions.c.target == target)
        if params_hash:
            q = q.where(s.promotions.c.params_hash == params_hash)
        if passed_only:
            q = q.where(s.promotions.c.passed == 1)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(s.promotions.c.id))]


__all__ = [
    "RecordStore",
]
