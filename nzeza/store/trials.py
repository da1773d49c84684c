"""The trial registry and the verdicts, in the ledger.

A **trial** is one configuration (strategy identity + parameters) backtested on one data set at
one set of costs. Trials are grouped by (strategy family, data fingerprint, timeframe): the
family is the class path, so a cosmetic edit of a strategy keeps its group, and the number of
**distinct trials** of a group is the number of distinct (source hash, parameters hash) pairs in
it — re-running a configuration adds nothing, changing its parameters or its code adds one. The
same configuration at other costs is another row (its returns differ) but not another trial.

Each trial row keeps its Sharpe ratio and points to its per-bar returns: float32 columns of a
compressed, content-addressed blob (`trial_returns`, keyed by the sha256 of its bytes; one blob
per registered chunk of a sweep, a column per trial). The blobs live in the ledger itself, so a
shared PostgreSQL ledger carries them to every machine, they are written in the same
transaction as their rows, and no file can go missing or be swapped without its hash failing.

Writes go through `Ledger.transaction()` and the shared INSERT statements (`statements.ins`),
with an audit row per registration and per verdict. Registration holds the database's write
lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock) from the existence check to the
commit, so concurrent registrations of the same trials store each one once.

Verdicts are rows too, and only rows: their id orders them (newest = highest id) and a
promotion can reference one.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select

from nzeza.errors import DataError
from nzeza.store import schema as s
from nzeza.store.statements import canonical_json, ins

TRIALS_LOCK = 0x6E7A747269  # "nztri": the PostgreSQL advisory lock of registrations
CODEC = "f32-shuffle-zstd"
_MAGIC = b"NZR1"
_HEADER = struct.Struct("<4sII")  # magic, n_bars, n_cols


@dataclass(frozen=True)
class TrialGroup:
    """What trials are counted together: a strategy family on one data set and timeframe."""

    family: str
    dataset: str
    timeframe: str

    def __str__(self) -> str:
        return f"{self.family} on data {self.dataset} ({self.timeframe})"


@dataclass(frozen=True)
class TrialSpec:
    """One configuration to register; its returns are a column of the registration's matrix."""

    params: str  # canonical JSON
    params_hash: str
    sharpe: float  # per period
    n_obs: int


@dataclass(frozen=True)
class Registration:
    """What one registering call did to its group."""

    run_id: str
    group: TrialGroup
    offered: int  # configurations offered by the call
    new: int  # rows added (new configurations, or known ones at other costs)
    group_was_new: bool  # no trial of this group existed before the call
    distinct: int  # distinct trials in the group after the call
    returns_sha256: str | None  # the blob written (None when nothing was new)


# -- returns blobs ----------------------------------------------------------------------------
def encode_returns(values: np.ndarray) -> bytes:
    """n_bars × n_cols returns → header + zstd of the byte-shuffled float32 columns (returns of
    trials that hold the same position are equal, which zstd's long matches find)."""
    import pyarrow as pa

    x = np.ascontiguousarray(np.asarray(values, dtype=np.float32).T)  # column-major
    shuffled = x.view(np.uint8).reshape(-1, 4).T.copy()  # byte planes compress far better
    body = pa.compress(shuffled.tobytes(), codec="zstd", asbytes=True)
    return _HEADER.pack(_MAGIC, x.shape[1], x.shape[0]) + body


def decode_returns(blob: bytes) -> np.ndarray:
    """The n_bars × n_cols float32 matrix of an `encode_returns` blob."""
    import pyarrow as pa

    magic, n_bars, n_cols = _HEADER.unpack_from(blob)
    if magic != _MAGIC:
        raise DataError("trial returns blob: unknown format")
    size = n_bars * n_cols * 4
    raw = pa.decompress(blob[_HEADER.size :], decompressed_size=size, codec="zstd", asbytes=True)
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(4, -1)
    x = np.ascontiguousarray(planes.T).view(np.float32).reshape(n_cols, n_bars)
    return x.T


def trial_key(group: TrialGroup, source_hash: str, params_hash: str, costs: str) -> str:
    text = canonical_json(
        [group.family, group.dataset, group.timeframe, source_hash, params_hash, costs]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _group_filter(group: TrialGroup) -> list[Any]:
    t = s.trials.c
    return [t.family == group.family, t.dataset == group.dataset, t.timeframe == group.timeframe]


def _distinct_count(conn: Any, group: TrialGroup) -> int:
    pairs = select(s.trials.c.source_hash, s.trials.c.params_hash).where(*_group_filter(group))
    return int(conn.execute(select(func.count()).select_from(pairs.distinct().subquery())).scalar())


# -- registration -----------------------------------------------------------------------------
def register_trials(
    ledger: Any,
    *,
    group: TrialGroup,
    identity: str,
    source_hash: str,
    strategy: str,
    costs: str,
    data_start_ns: int,
    data_end_ns: int,
    n_bars: int,
    source: str,
    run_id: str,
    code_version: str,
    trials: Sequence[TrialSpec],
    returns: np.ndarray,
) -> Registration:
    """Register `trials` (column j of `returns` is trial j's per-bar returns) in one
    transaction; configurations already in the group at these costs are skipped."""
    if returns.shape != (n_bars, len(trials)):
        raise DataError(f"returns of shape {returns.shape}, expected ({n_bars}, {len(trials)})")
    now = ledger.clock()
    # compressed before the write lock is taken: usually every column is new, or none is
    blob_all = encode_returns(returns) if len(trials) else b""
    with ledger.transaction() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(TRIALS_LOCK)))
        existed = conn.execute(select(s.trials.c.id).where(*_group_filter(group)).limit(1))
        group_was_new = existed.first() is None
        keys = [trial_key(group, source_hash, t.params_hash, costs) for t in trials]
        known = set()
        for start in range(0, len(keys), 500):  # bounded IN lists
            chunk = keys[start : start + 500]
            rows = conn.execute(select(s.trials.c.trial_key).where(s.trials.c.trial_key.in_(chunk)))
            known.update(rows.scalars())
        fresh: list[int] = []
        for j, key in enumerate(keys):
            if key not in known:
                known.add(key)  # a configuration offered twice in one call counts once
                fresh.append(j)
        sha = None
        if fresh:
            blob = blob_all if len(fresh) == len(trials) else encode_returns(returns[:, fresh])
            sha = hashlib.sha256(blob).hexdigest()
            have = conn.execute(
                select(s.trial_returns.c.sha256).where(s.trial_returns.c.sha256 == sha)
            ).first()
            if have is None:
                conn.execute(
                    ins(s.trial_returns),
                    dict(
                        sha256=sha,
                        n_bars=n_bars,
                        n_cols=len(fresh),
                        codec=CODEC,
                        data=blob,
                        created_ns=now,
                    ),
                )
            rows = [
                dict(
                    trial_key=keys[j],
                    family=group.family,
                    dataset=group.dataset,
                    timeframe=group.timeframe,
                    identity=identity,
                    source_hash=source_hash,
                    strategy=strategy,
                    params=trials[j].params,
                    params_hash=trials[j].params_hash,
                    costs=costs,
                    data_start_ns=data_start_ns,
                    data_end_ns=data_end_ns,
                    n_bars=n_bars,
                    returns_sha256=sha,
                    returns_column=col,
                    sharpe=_finite(trials[j].sharpe),
                    n_obs=int(trials[j].n_obs),
                    source=source,
                    run_id=run_id,
                    code_version=code_version,
                    created_ns=now,
                )
                for col, j in enumerate(fresh)
            ]
            conn.execute(ins(s.trials), rows)
        distinct = _distinct_count(conn, group)
        ledger.audit(
            "trials",
            {
                "run_id": run_id,
                "family": group.family,
                "dataset": group.dataset,
                "timeframe": group.timeframe,
                "identity": identity,
                "source": source,
                "offered": len(trials),
                "new": len(fresh),
                "returns_sha256": sha,
            },
            None,
            conn,
        )
    return Registration(run_id, group, len(trials), len(fresh), group_was_new, distinct, sha)


def _finite(x: float) -> float:
    x = float(x)
    return x if np.isfinite(x) else 0.0


# -- reading ----------------------------------------------------------------------------------
_LIGHT = list(s.trials.c)


def group_rows(ledger: Any, group: TrialGroup) -> list[dict[str, Any]]:
    """Every trial row of a group, in insertion order."""
    q = select(*_LIGHT).where(*_group_filter(group)).order_by(s.trials.c.id)
    with ledger._read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def distinct_trials(
    rows: Iterable[Mapping[str, Any]], costs: str | None = None
) -> list[dict[str, Any]]:
    """One row per distinct trial (source hash, params hash): the one at `costs` if there is
    one, else the newest. Ordered by first registration."""
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["source_hash"], row["params_hash"])
        have = chosen.get(key)
        if have is None:
            chosen[key] = {**row, "first_id": row["id"]}
        elif costs is None or have["costs"] != costs or row["costs"] == costs:
            chosen[key] = {**row, "first_id": have["first_id"]}  # the newer row
    return sorted(chosen.values(), key=lambda r: r["first_id"])


def load_returns(ledger: Any, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """n_bars × len(rows) float64 returns of these trials, each blob checked against its hash."""
    shas = sorted({r["returns_sha256"] for r in rows})
    q = select(s.trial_returns).where(s.trial_returns.c.sha256.in_(shas))
    with ledger._read() as conn:
        blobs = {r.sha256: r for r in conn.execute(q)}
    matrices: dict[str, np.ndarray] = {}
    for sha in shas:
        row = blobs.get(sha)
        if row is None:
            raise DataError(f"trial returns {sha[:16]} are missing from the ledger")
        data = bytes(row.data)
        if hashlib.sha256(data).hexdigest() != sha:
            raise DataError(f"trial returns {sha[:16]} do not match their hash: altered")
        matrices[sha] = decode_returns(data)
    n_bars = {matrices[r["returns_sha256"]].shape[0] for r in rows}
    if len(n_bars) > 1:
        raise DataError(f"trials of one group have different lengths: {sorted(n_bars)}")
    out = np.empty((n_bars.pop() if n_bars else 0, len(rows)))
    for j, r in enumerate(rows):
        out[:, j] = matrices[r["returns_sha256"]][:, int(r["returns_column"])]
    return out


def groups(ledger: Any, family: str | None = None) -> list[dict[str, Any]]:
    """One summary per group (optionally of one family): distinct trials, the variance of
    their Sharpe ratios (per period, ddof=1), rows, data range and the newest registration."""
    q = select(*_LIGHT).order_by(s.trials.c.id)
    if family:
        q = q.where(s.trials.c.family == family)
    by_group: dict[TrialGroup, list[dict[str, Any]]] = {}
    with ledger._read() as conn:
        for r in conn.execute(q):
            row = dict(r._mapping)
            by_group.setdefault(
                TrialGroup(row["family"], row["dataset"], row["timeframe"]), []
            ).append(row)
    out = []
    for group, rows in by_group.items():
        distinct = distinct_trials(rows)
        sharpes = np.array([r["sharpe"] for r in distinct], dtype=float)
        out.append(
            {
                "family": group.family,
                "dataset": group.dataset,
                "timeframe": group.timeframe,
                "strategy": rows[-1]["strategy"],
                "distinct_trials": len(distinct),
                "rows": len(rows),
                "sharpe_variance": float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0,
                "identities": len({r["source_hash"] for r in rows}),
                "data_start_ns": rows[0]["data_start_ns"],
                "data_end_ns": rows[0]["data_end_ns"],
                "n_bars": rows[0]["n_bars"],
                "newest_ns": max(r["created_ns"] for r in rows),
            }
        )
    return sorted(out, key=lambda g: g["newest_ns"])


# -- verdicts ---------------------------------------------------------------------------------
def record_verdict(ledger: Any, row: Mapping[str, Any]) -> int:
    """Insert one verdict row (with its audit row); returns its id."""
    values = dict(row)
    values["created_ns"] = ledger.clock()
    for key in ("deflated_sharpe", "pbo"):
        value = values.get(key)
        values[key] = float(value) if value is not None and np.isfinite(value) else None
    with ledger.transaction() as conn:
        result = conn.execute(ins(s.verdicts), values)
        vid = int(result.inserted_primary_key[0])
        ledger.audit(
            "verdict",
            {
                "id": vid,
                "identity": values["identity"],
                "params_hash": values["params_hash"],
                "dataset": values["dataset"],
                "timeframe": values["timeframe"],
                "decision": values["decision"],
                "n_trials": values["n_trials"],
            },
            None,
            conn,
        )
    return vid


def verdicts(
    ledger: Any,
    *,
    family: str | None = None,
    identity: str | None = None,
    source_hash: str | None = None,
    params_hash: str | None = None,
    strategy: str | None = None,
) -> list[dict[str, Any]]:
    """Verdict rows, oldest first (ledger insertion order), with reasons and metrics decoded."""
    v = s.verdicts.c
    q = select(s.verdicts).order_by(v.id)
    for column, value in (
        (v.family, family),
        (v.identity, identity),
        (v.source_hash, source_hash),
        (v.params_hash, params_hash),
        (v.strategy, strategy),
    ):
        if value is not None:
            q = q.where(column == value)
    with ledger._read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for row in rows:
        for key in ("params", "reasons", "metrics", "costs", "policy"):
            row[key] = json.loads(row[key])
    return rows


__all__ = [
    "CODEC",
    "Registration",
    "TrialGroup",
    "TrialSpec",
    "decode_returns",
    "distinct_trials",
    "encode_returns",
    "group_rows",
    "groups",
    "load_returns",
    "record_verdict",
    "register_trials",
    "trial_key",
    "verdicts",
]
