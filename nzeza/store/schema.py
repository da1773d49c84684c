"""The ledger schema (SQLAlchemy Core) and its versioned migrations.

Money is stored as decimal strings (TEXT): exact on SQLite and PostgreSQL alike, and read back
into `Decimal` without a float in between. Timestamps are UTC nanoseconds (BIGINT).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    inspect,
    select,
    text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("applied_ns", BigInteger, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("strategy", String(100), nullable=False),
    Column("params", Text, nullable=False),  # canonical JSON
    Column("venue", String(64), nullable=False),
    Column("currency", String(16), nullable=False),
    Column("initial_balances", Text, nullable=False),  # JSON {ccy: "decimal"}
    Column("status", String(16), nullable=False),  # running | stopped | crashed
    Column("started_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Column("config", Text, nullable=False, default="{}"),
    Column("last_bar_ts", BigInteger, nullable=True),  # v2: last bar fully processed
)

intents = Table(
    "intents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("seq", Integer, nullable=False),  # decision sequence within the session
    Column("client_order_id", String(64), nullable=False, unique=True),
    Column("instrument_id", String(100), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", Text, nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("price", Text, nullable=True),
    Column("bar_ts", BigInteger, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # journaled | sent | done | rejected
    Column("target", Text, nullable=True),  # v2: the target exposure the intent moves to
    UniqueConstraint("session_id", "seq", name="uq_intent_seq"),
)

orders = Table(
    "orders",
    metadata,
    Column("client_order_id", String(64), primary_key=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("instrument_id", String(100), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("quantity", Text, nullable=False),
    Column("price", Text, nullable=True),
    Column("status", String(24), nullable=False),
    Column("filled_qty", Text, nullable=False, default="0"),
    Column("avg_fill_price", Text, nullable=True),
    Column("venue_order_id", String(100), nullable=True),
    Column("reason", Text, nullable=True),
    Column("updated_ns", BigInteger, nullable=False),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_order_id", String(64), nullable=False, index=True),
    Column("session_id", String(64), nullable=False),
    Column("event", String(24), nullable=False),
    Column("payload", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

fills = Table(
    "fills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("venue", String(64), nullable=False),
    Column("trade_id", String(100), nullable=False),
    Column("client_order_id", String(64), nullable=False, index=True),
    Column("instrument_id", String(100), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", Text, nullable=False),
    Column("price", Text, nullable=False),
    Column("fee", Text, nullable=False),
    Column("fee_currency", String(16), nullable=False),
    Column("ts", BigInteger, nullable=False),
    UniqueConstraint("venue", "trade_id", name="uq_fill_venue_trade"),
)

positions = Table(
    "positions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("instrument_id", String(100), primary_key=True),
    Column("quantity", Text, nullable=False),
    Column("avg_entry_price", Text, nullable=False),
    Column("realized_pnl", Text, nullable=False),
    Column("fees", Text, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
)

balances = Table(
    "balances",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("currency", String(16), primary_key=True),
    Column("amount", Text, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
)

equity_snapshots = Table(
    "equity_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("ts", BigInteger, nullable=False),
    Column("equity", Text, nullable=False),
    Column("cash", Text, nullable=False),
    Column("gross_exposure", Text, nullable=False),
    Column("net_exposure", Text, nullable=False),
)

risk_events = Table(
    "risk_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("check_name", String(64), nullable=False),
    Column("limit_value", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("ts", BigInteger, nullable=False),
)

promotions = Table(
    "promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("strategy", String(100), nullable=False),
    Column("params_hash", String(64), nullable=False),
    Column("params", Text, nullable=False),
    Column("target", String(16), nullable=False),  # paper | live
    Column("data_fingerprint", String(64), nullable=False),
    Column("notebook_hash", String(64), nullable=False),
    Column("gates", Text, nullable=False),  # JSON {gate: {"passed": bool, "detail": str}}
    Column("passed", Integer, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    # v6: canonical JSON of the whole run the promotion binds (nzeza.promotion.binding);
    # NULL on rows written before it, which no live session accepts
    Column("binding", Text, nullable=True),
)

# v3: the trial registry (every backtest, by strategy family + data set + timeframe) and the
# verdicts computed from it. Research statistics are float64 (Float = double precision).
trials = Table(
    "trials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # sha256 of (family, dataset, timeframe, source_hash, params_hash, costs): one row per key
    Column("trial_key", String(64), nullable=False, unique=True),
    Column("family", String(300), nullable=False),  # module:QualName
    Column("dataset", String(64), nullable=False),  # data fingerprint of the bars
    Column("timeframe", String(16), nullable=False),
    Column("identity", String(400), nullable=False),  # family@source hash (first 16 hex)
    Column("source_hash", String(64), nullable=False),
    Column("strategy", String(100), nullable=False),  # the short display name
    Column("params", Text, nullable=False),  # canonical JSON
    Column("params_hash", String(64), nullable=False),
    Column("costs", Text, nullable=False),  # canonical JSON {fee, slippage, init_cash}
    Column("data_start_ns", BigInteger, nullable=False),
    Column("data_end_ns", BigInteger, nullable=False),
    Column("n_bars", Integer, nullable=False),
    Column("returns_sha256", String(64), nullable=False),  # trial_returns.sha256
    Column("returns_column", Integer, nullable=False),  # this trial's column in that blob
    Column("sharpe", Float, nullable=False),  # per period (mean / std, ddof=1)
    Column("n_obs", Integer, nullable=False),
    Column("source", String(32), nullable=False),  # backtest | sweep | validate
    Column("run_id", String(32), nullable=False),  # one registering call (a sweep, a backtest)
    Column("code_version", String(64), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Index("ix_trials_group", "family", "dataset", "timeframe"),
)

# per-bar returns of registered trials: float32, columns = trials, compressed; content-addressed
trial_returns = Table(
    "trial_returns",
    metadata,
    Column("sha256", String(64), primary_key=True),  # of `data`
    Column("n_bars", Integer, nullable=False),
    Column("n_cols", Integer, nullable=False),
    Column("codec", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
)

verdicts = Table(
    "verdicts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # insertion order = newest
    Column("family", String(300), nullable=False),
    Column("identity", String(400), nullable=False),
    Column("source_hash", String(64), nullable=False),
    Column("strategy", String(100), nullable=False),
    Column("params", Text, nullable=False),
    Column("params_hash", String(64), nullable=False),
    Column("dataset", String(64), nullable=False),  # the trial group the verdict used
    Column("timeframe", String(16), nullable=False),
    Column("data_start_ns", BigInteger, nullable=False),
    Column("data_end_ns", BigInteger, nullable=False),
    Column("costs", Text, nullable=False),
    Column("decision", String(16), nullable=False),  # KILL | ITERATE | SCALE
    Column("reasons", Text, nullable=False),  # JSON list
    Column("metrics", Text, nullable=False),  # canonical JSON, full precision
    Column("n_trials", Integer, nullable=False),  # distinct trials of the group counted
    Column("deflated_sharpe", Float, nullable=True),
    Column("pbo", Float, nullable=True),  # NULL: too few trials for PBO
    Column("policy", Text, nullable=False),  # the thresholds applied
    Column("code_version", String(64), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Index("ix_verdicts_identity", "identity", "params_hash"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True),  # 1, 2, 3, ... assigned by the ledger
    Column("ts", BigInteger, nullable=False),
    Column("session_id", String(64), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
# finds the entry that opened the keyed chain; partial, so other entries cost it nothing
_OPENING = audit_log.c.kind.in_(["genesis", "adopted"])
audit_opening = Index(
    "ix_audit_log_opening", audit_log.c.seq, sqlite_where=_OPENING, postgresql_where=_OPENING
)


# v5: which session a client order id belongs to, for venues whose ids leave no room for a
# session prefix (dYdX: a uint32). Written before the id is used; restart recovery reads it.
client_order_ids = Table(
    "client_order_ids",
    metadata,
    Column("venue", String(64), primary_key=True),
    Column("client_order_id", String(64), primary_key=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("seq", String(32), nullable=False),  # "12", or "12.3" for a child order
    Column("created_ns", BigInteger, nullable=False),
)


# v7: perpetuals. A funding payment is its own entry: one per (session, instrument, funding
# time), so a restarted session cannot book a funding time twice; `amount` is what the account
# received (−position × mark × rate; < 0 paid). A liquidation is an order whose fills (in
# `fills`, by client order id) close the position: marked by a row here, written before the
# order exists, with the margin facts that triggered it.
funding = Table(
    "funding",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("instrument_id", String(100), nullable=False),
    Column("ts", BigInteger, nullable=False),  # the funding time, UTC ns
    Column("position", Text, nullable=False),  # signed, base units
    Column("mark", Text, nullable=False),
    Column("rate", Text, nullable=False),
    Column("amount", Text, nullable=False),  # quote currency, + received
    Column("currency", String(16), nullable=False),
    UniqueConstraint("session_id", "instrument_id", "ts", name="uq_funding_time"),
)

liquidations = Table(
    "liquidations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("venue", String(64), nullable=False),
    Column("client_order_id", String(64), nullable=False),  # the order that closes it
    Column("instrument_id", String(100), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("position", Text, nullable=False),  # signed, before the liquidation
    Column("entry_price", Text, nullable=False),
    Column("collateral", Text, nullable=False),
    Column("maintenance_rate", Text, nullable=False),
    Column("price", Text, nullable=False),  # the liquidation price
    UniqueConstraint("venue", "client_order_id", name="uq_liquidation_order"),
)

# v8: funding reconciliation. What a live perpetual session found when it compared its booked
# funding with the venue's own payments, one row per (session, instrument, funding time):
# `source` = "venue" where the funding row was booked from the venue's numbers (a payment the
# session had not booked), "session" where the session's own row was compared; `status`
# "match", "booked" (from the venue) or "mismatch" (kept as booked, and a risk event). On the
# audit chain; the funding table itself is unchanged, so rows written before stay verifiable.
funding_checks = Table(
    "funding_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("instrument_id", String(100), nullable=False),
    Column("ts", BigInteger, nullable=False),  # the funding time, UTC ns
    Column("source", String(16), nullable=False),  # venue | session
    Column("status", String(16), nullable=False),  # match | booked | mismatch
    Column("booked_amount", Text),  # the session's amount (None: it had none)
    Column("venue_amount", Text),  # the venue's amount (None: the venue credited none)
    Column("venue_ts", BigInteger),  # the venue's own stamp, UTC ns
    Column("checked_ns", BigInteger, nullable=False),
    UniqueConstraint("session_id", "instrument_id", "ts", name="uq_funding_check"),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


def _add_column(conn: Connection, table: str, column: str, ddl_type: str) -> None:
    existing = {c["name"] for c in inspect(conn).get_columns(table)}
    if column not in existing:  # a v1 database created before this column existed
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl_type}"))


def _v2(conn: Connection) -> None:
    _add_column(conn, "intents", "target", "TEXT")
    _add_column(conn, "sessions", "last_bar_ts", "BIGINT")


def _v3(conn: Connection) -> None:
    # a fresh database got these tables from v1's create_all already (checkfirst)
    metadata.create_all(conn, tables=[trials, trial_returns, verdicts])


def _v4(conn: Connection) -> None:
    audit_opening.create(conn, checkfirst=True)


def _v5(conn: Connection) -> None:
    client_order_ids.create(conn, checkfirst=True)


def _v6(conn: Connection) -> None:
    _add_column(conn, "promotions", "binding", "TEXT")


def _v7(conn: Connection) -> None:
    metadata.create_all(conn, tables=[funding, liquidations])


def _v8(conn: Connection) -> None:
    funding_checks.create(conn, checkfirst=True)


# (version, name, upgrade). Append only: a released migration is never edited. Versions may
# have gaps (each is reserved by the change that brings it).
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial ledger: sessions, intents, orders, fills, positions, balances, audit", _v1),
    (2, "recovery: intents.target, sessions.last_bar_ts", _v2),
    (3, "trial registry and verdicts: trials, trial_returns, verdicts", _v3),
    # the ledger then opens its keyed chain over every covered row (nzeza.store.chain)
    (4, "keyed audit chain over every covered row: index of its opening entry", _v4),
    (5, "client_order_ids: client order id -> session where the id has no session prefix", _v5),
    (6, "promotions.binding: the whole run a promotion binds (identity, market, costs, ...)", _v6),
    (7, "perpetuals: funding payments and liquidations, on the audit chain", _v7),
    (8, "funding_checks: booked funding reconciled with the venue's payments", _v8),
]
KEYED_CHAIN = 4  # the first schema whose audit chain is keyed and covers every row

LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "schema_version"):
        return 0
    row = conn.execute(select(schema_version.c.version).order_by(schema_version.c.version.desc()))
    first = row.first()
    return int(first[0]) if first else 0


def applied_versions(conn: Connection) -> set[int]:
    """The migrations this database has had (a set: versions merged from parallel branches
    may land below one already applied, and still have to run)."""
    if not conn.dialect.has_table(conn, "schema_version"):
        return set()
    return {int(v) for v in conn.execute(select(schema_version.c.version)).scalars()}


def pending(conn: Connection) -> list[int]:
    have = applied_versions(conn)
    return [version for version, _, _ in MIGRATIONS if version not in have]


def migrate(conn: Connection, now_ns: int) -> list[int]:
    """Apply every pending migration inside the caller's transaction; returns the applied ones."""
    have = applied_versions(conn)
    applied = []
    for version, name, upgrade in MIGRATIONS:
        if version not in have:
            upgrade(conn)
            conn.execute(
                insert(schema_version).values(version=version, name=name, applied_ns=now_ns)
            )
            applied.append(version)
    return applied


__all__ = [
    "KEYED_CHAIN",
    "LATEST",
    "MIGRATIONS",
    "applied_versions",
    "audit_log",
    "audit_opening",
    "balances",
    "client_order_ids",
    "current_version",
    "equity_snapshots",
    "fills",
    "funding",
    "funding_checks",
    "intents",
    "liquidations",
    "metadata",
    "migrate",
    "order_events",
    "orders",
    "pending",
    "positions",
    "promotions",
    "risk_events",
    "schema_version",
    "sessions",
    "trial_returns",
    "trials",
    "verdicts",
]
