"""The keyed audit chain covers every row of every table that matters, on SQLite and PostgreSQL.

Rows are written through the ledger's normal APIs; an attacker then changes the database through
a connection of their own (write access, no key). An edited, inserted, deleted or reordered row
in any covered table, an edited, dropped or reordered chain entry, a truncated chain, a chain
rebuilt without the key and a wrong key are each caught by `verify_audit` — what
`nzeza audit verify` prints — naming the table, the row and what is wrong.
"""

from __future__ import annotations

import hashlib
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Float,
    Integer,
    LargeBinary,
    UniqueConstraint,
    and_,
    func,
    inspect,
    select,
    update,
)

from nzeza.domain import Fill, Instrument, Order, OrderFilled, OrderSubmitted, Portfolio
from nzeza.errors import ConfigError, DataError
from nzeza.store import Ledger
from nzeza.store import schema as s
from nzeza.store.audit import (
    COVERED_TABLES,
    EXEMPT_TABLES,
    GENESIS,
    ROWS,
    AuditKey,
    legacy_hash,
    row_digest,
    show_key,
)
from nzeza.store.auditfiles import AuditSetup
from nzeza.store.statements import canonical_bytes, ins
from nzeza.store.trials import TrialGroup, TrialSpec, record_verdict, register_trials

BTC = Instrument("paper", "BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.0001"))


def populate(ledger: Ledger) -> None:
    """Two rows (at least) of every covered table, through the ledger's normal write paths:
    single writes, a batch, and SQLAlchemy statements inside `transaction()`."""
    for n, sid in enumerate(("s1", "s2")):
        ledger.start_session(
            sid,
            mode="paper",
            strategy="sma_cross",
            params={"fast": 10},
            venue="paper",
            currency="USDT",
            initial_balances={"USDT": Decimal(10000)},
        )
        pf = Portfolio("USDT", {"USDT": 10000}, [BTC])
        for i in (1, 2):
            with ledger.batch() if (n + i) % 2 else _nothing():
                cid = f"{sid}-c{i}"
                qty = Decimal("0.1") * i
                ledger.journal_intent(sid, i, cid, BTC.id, "buy", qty, "market", None, i)
                order = Order(cid, BTC, "buy", qty)
                order.apply(OrderSubmitted(i))
                ledger.record_order(sid, order, "submit")
                f = Fill(f"{sid}-t{i}", cid, BTC.id, "buy", qty, Decimal(100 + i),
                         Decimal("0.01"), "USDT", i)  # fmt: skip
                order.apply(OrderFilled(f))
                assert pf.apply_fill(f, persist=ledger.fill_writer(sid, "paper", f, order))
                ledger.mark_intent(cid, "done")
                snap = pf.snapshot()
                ledger.record_equity(sid, i, snap.cash, snap.cash, Decimal(0), Decimal(0))
                ledger.mark_bar(sid, i)
        # perpetuals: a funding payment (in a batch and alone) and a liquidation mark
        for i in (1, 2):
            with ledger.batch() if (n + i) % 2 else _nothing():
                pos = pf.snapshot().position(BTC.id).quantity
                amount = -pos * Decimal(100) * Decimal("0.0001")
                # the second one booked from the venue, with its funding_checks row
                check = (
                    dict(source="venue", status="booked", booked_amount=None,
                         venue_amount=amount, venue_ts=10 + i)
                    if i == 2 else None
                )  # fmt: skip
                persist = ledger.funding_writer(
                    sid, BTC.id, 10 + i, pos, Decimal(100), Decimal("0.0001"), amount, check=check
                )
                assert pf.apply_funding(BTC.id, 10 + i, amount, persist=persist)
        ledger.record_liquidation(
            sid, "paper", f"{sid}-c2", BTC.id, 2, Decimal("0.3"), Decimal(101), Decimal(5),
            Decimal("0.005"), Decimal(90),
        )  # fmt: skip
        ledger.record_risk_event(sid, "max_notional", Decimal(1000), Decimal(1500), "too big")
        ledger.set_session_status(sid, "stopped", reason="done")
    for n, dataset in enumerate(("d1", "d2")):  # the trial registry and its verdicts
        returns = np.full((3, 2), 0.001 * (n + 1), dtype=np.float32)
        register_trials(
            ledger,
            group=TrialGroup("m:Strat", dataset, "1h"),
            identity="m:Strat@abc",
            source_hash="abc",
            strategy="strat",
            costs='{"fee":0.001}',
            data_start_ns=0,
            data_end_ns=2,
            n_bars=3,
            source="sweep",
            run_id=f"run{n}",
            code_version="test",
            trials=[TrialSpec(f'{{"p":{p}}}', f"h{p}", 0.1 * p, 2) for p in (1, 2)],
            returns=returns,
        )
        record_verdict(ledger, _verdict_row(dataset))
    # dYdX-style client ids claimed in the ledger, a second claim of one included (a no-op)
    for seq in ("1", "2"):
        ledger.claim_client_id("dydx", f"40{seq}", "s1", seq)
    assert ledger.claim_client_id("dydx", "401", "s2", "9") == ("s1", "1")
    for target in ("paper", "live"):
        ledger.add_promotion(
            strategy="sma_cross",
            params={"fast": 10},
            params_hash="abc",
            target=target,
            data_fingerprint="d",
            notebook_hash="n",
            gates={"verdict": {"passed": True}},
            passed=True,
        )


def _verdict_row(dataset: str) -> dict[str, Any]:
    return dict(
        family="m:Strat",
        identity="m:Strat@abc",
        source_hash="abc",
        strategy="strat",
        params='{"p":1}',
        params_hash="h1",
        dataset=dataset,
        timeframe="1h",
        data_start_ns=0,
        data_end_ns=2,
        costs='{"fee":0.001}',
        decision="KILL",
        reasons='["no edge"]',
        metrics="{}",
        n_trials=2,
        deflated_sharpe=0.1,
        pbo=None,
        policy="{}",
        code_version="test",
    )


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def stored(ledger: Ledger, name: str) -> list[dict[str, Any]]:
    table = s.metadata.tables[name]
    keys = [table.c[k] for k in COVERED_TABLES[name]]
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(table).order_by(*keys))
        return [{str(k): v for k, v in r._mapping.items()} for r in rows]


def where_key(name: str, row: dict[str, Any]) -> Any:
    table = s.metadata.tables[name]
    return and_(*[table.c[k] == row[k] for k in COVERED_TABLES[name]])


def key_value(name: str, row: dict[str, Any]) -> Any:
    cols = COVERED_TABLES[name]
    return row[cols[0]] if len(cols) == 1 else tuple(row[c] for c in cols)


def changed(value: Any, column: Any) -> Any:
    """Another value for the column, clear of every value a test writes (unique columns), and
    of the column's type and length (PostgreSQL enforces both)."""
    if isinstance(column.type, Integer):
        return (value or 0) + 1_000_003
    if isinstance(column.type, Float):
        return (value or 0.0) + 1.5
    if isinstance(column.type, LargeBinary):
        return bytes(value or b"") + b"x"
    text = f"{value}x"
    length = getattr(column.type, "length", None)
    if length is not None and len(text) > length:  # keep the length, change the last character
        text = str(value)[:-1] + ("y" if str(value)[-1:] != "y" else "z")
    return text


def unique_columns(table: Any) -> list[Any]:
    cols = [c for c in table.columns if c.unique]
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            cols += list(constraint.columns)
    return cols


def test_every_table_is_covered_or_exempt(ledger: Ledger) -> None:
    """Covering a new table is one line in COVERED_TABLES; forgetting it fails here."""
    with ledger.engine.connect() as conn:
        in_database = set(inspect(conn).get_table_names())
    for name in set(s.metadata.tables) | in_database:
        assert (name in COVERED_TABLES) != (name in EXEMPT_TABLES), (
            f"table {name} is neither covered by the audit chain nor exempt (or both): add it "
            "to nzeza.store.audit.COVERED_TABLES with its key columns"
        )
    for name, keys in COVERED_TABLES.items():
        table = s.metadata.tables[name]
        assert keys == tuple(c.name for c in table.primary_key.columns), name


def test_everything_written_through_the_ledger_verifies(ledger: Ledger) -> None:
    populate(ledger)
    report = ledger.verify_audit()
    assert report.ok, report
    counts = {name: len(stored(ledger, name)) for name in COVERED_TABLES}
    assert all(n >= 2 for n in counts.values()), counts
    assert report.covered_rows == sum(counts.values())
    assert report.anchor == f"anchor at seq {report.rows} of {report.rows}"
    assert "hash chain verified" in str(report)


@pytest.mark.parametrize("name", list(COVERED_TABLES))
@pytest.mark.parametrize("change", ["edited", "inserted", "deleted"])
def test_a_changed_row_in_any_covered_table_is_named(ledger: Ledger, name: str, change: str):
    populate(ledger)
    table = s.metadata.tables[name]
    row = stored(ledger, name)[0]
    keys = COVERED_TABLES[name]
    with ledger.engine.begin() as conn:  # the attacker: write access, no key
        if change == "edited":
            col = next(c for c in table.columns if c.name not in keys)
            conn.execute(
                update(table)
                .where(where_key(name, row))
                .values({col.name: changed(row[col.name], col)})
            )
            target = key_value(name, row)
        elif change == "inserted":
            new = dict(row)
            for col in unique_columns(table):  # a copy that fits every unique constraint
                new[col.name] = changed(row[col.name], col)
            if keys == ("id",):
                new["id"] = conn.execute(select(func.max(table.c.id))).scalar() + 100
            else:
                new[keys[0]] = "forged"
            conn.execute(table.insert().values(new))
            target = key_value(name, new)
        else:
            conn.execute(table.delete().where(where_key(name, row)))
            target = key_value(name, row)
    report = ledger.verify_audit()
    assert not report.ok
    named = report.about(name, target)
    assert named, str(report)
    what = {"edited": "edited", "inserted": "not in the audit chain", "deleted": "deleted"}
    assert what[change] in named[0].what, str(report)
    assert f"{name} {show_key(name, target)}" in str(report)


@pytest.mark.parametrize("name", list(COVERED_TABLES))
def test_two_rows_swapped_in_any_covered_table_are_named(ledger: Ledger, name: str) -> None:
    populate(ledger)
    table = s.metadata.tables[name]
    keys = COVERED_TABLES[name]
    first, second = stored(ledger, name)[:2]
    a, b = key_value(name, first), key_value(name, second)
    parking = {k: (-1 if isinstance(first[k], int) else "parked") for k in keys}
    with ledger.engine.begin() as conn:
        conn.execute(update(table).where(where_key(name, first)).values(parking))
        conn.execute(
            update(table).where(where_key(name, second)).values({k: first[k] for k in keys})
        )
        conn.execute(
            update(table).where(where_key(name, parking)).values({k: second[k] for k in keys})
        )
    report = ledger.verify_audit()
    assert not report.ok
    for mine, theirs in ((a, b), (b, a)):
        named = report.about(name, mine)
        assert named and "reordered" in named[0].what, str(report)
        assert show_key(name, theirs) in named[0].what


def test_an_edited_dropped_or_reordered_chain_entry(ledger: Ledger) -> None:
    populate(ledger)
    log = s.audit_log
    with ledger.engine.begin() as conn:
        original = conn.execute(select(log.c.payload).where(log.c.seq == 5)).scalar()
        conn.execute(update(log).where(log.c.seq == 5).values(payload='{"seq":99}'))
    bad = ledger.verify_audit()
    assert bad.first_bad_seq == 5 and "does not match its hash" in bad.reason
    with ledger.engine.begin() as conn:  # put it back, then swap two entries
        conn.execute(update(log).where(log.c.seq == 5).values(payload=original))
    assert ledger.verify_audit().ok
    with ledger.engine.begin() as conn:
        for seq, to in ((7, -7), (8, 7), (-7, 8)):
            conn.execute(update(log).where(log.c.seq == seq).values(seq=to))
    swapped = ledger.verify_audit()
    assert not swapped.ok and swapped.first_bad_seq == 7, swapped
    with ledger.engine.begin() as conn:
        conn.execute(log.delete().where(log.c.seq == 10))
    dropped = ledger.verify_audit()
    assert any(p.key == "seq 10" and "missing" in p.what for p in dropped.problems), dropped


def drop_last_transaction(ledger: Ledger) -> None:
    """A consistent truncation: the last transaction's rows and its chain entries are deleted
    together (a promotion added last), so the chain and the rows alone still agree."""
    with ledger.engine.begin() as conn:
        last = conn.execute(select(func.max(s.promotions.c.id))).scalar()
        conn.execute(s.promotions.delete().where(s.promotions.c.id == last))
        top = conn.execute(select(func.max(s.audit_log.c.seq))).scalar()
        conn.execute(s.audit_log.delete().where(s.audit_log.c.seq > top - 2))


@pytest.mark.parametrize("anchor", ["present", "absent", "edited", "old copy"])
def test_a_truncated_chain_and_its_anchor(ledger: Ledger, anchor: str) -> None:
    """present: truncation named; absent: the missing anchor refuses; edited: the anchor's own
    MAC refuses; an older, genuine copy of the anchor put back: the truncation back to it is
    NOT detectable — the documented limit (whoever can write the audit directory can roll the
    anchor back; keep it out of the ledger writers' reach)."""
    populate(ledger)
    path = ledger.audit_anchor
    assert path is not None and path.exists()
    old = path.read_bytes()
    ledger.add_promotion(strategy="x", params={}, params_hash="h", target="paper",
                         data_fingerprint="d", notebook_hash="n", gates={},
                         passed=True)  # fmt: skip
    head = ledger.verify_audit().rows
    drop_last_transaction(ledger)
    if anchor == "absent":
        path.unlink()
    elif anchor == "edited":
        path.write_bytes(path.read_bytes().replace(b'"seq":%d' % head, b'"seq":%d' % (head - 2)))
    elif anchor == "old copy":
        path.write_bytes(old)
    report = ledger.verify_audit()
    if anchor == "old copy":
        assert report.ok, report
        return
    assert not report.ok
    expect = {
        "present": f"the anchor records {head} entries, the chain has {head - 2}: the chain was "
        "truncated",
        "absent": "anchor",
        "edited": "does not verify with this key (edited?)",
    }[anchor]
    assert expect in str(report), report
    if anchor == "absent":
        assert report.problems[0].where == "anchor" and "missing" in report.problems[0].what


def _rewrite(ledger: Ledger, how: str) -> None:
    """An attacker without the key edits a fill, fixes its digest in the chain's rows entry and
    rebuilds every entry's hash: with plain SHA-256 over the same canonical JSON, with a key of
    their own, or the pre-schema-4 way."""
    fake = AuditKey(b"attacker-key-attacker-key-attacker-key")

    def digest(seq: int, ts: int, sid: Any, kind: str, payload: str, prev: str) -> str:
        if how == "legacy":
            return legacy_hash(seq, ts, sid, kind, payload, prev)
        message = canonical_bytes([seq, ts, sid, kind, payload, prev])
        return fake.mac(message) if how == "own key" else hashlib.sha256(message).hexdigest()

    fill = stored(ledger, "fills")[0]
    forged = fill | {"price": "1"}
    log = s.audit_log
    with ledger.engine.begin() as conn:
        conn.execute(update(s.fills).where(s.fills.c.id == fill["id"]).values(price="1"))
        entries = [dict(r._mapping) for r in conn.execute(select(log).order_by(log.c.seq))]
        prev = GENESIS
        for e in entries:
            if e["kind"] == ROWS and '"fills"' in e["payload"]:
                e["payload"] = e["payload"].replace(row_digest(fill), row_digest(forged))
            e["prev_hash"], e["hash"] = (
                prev,
                digest(e["seq"], e["ts"], e["session_id"], e["kind"], e["payload"], prev),
            )
            prev = e["hash"]
            conn.execute(update(log).where(log.c.seq == e["seq"]).values(e))


@pytest.mark.parametrize("how", ["sha256", "own key", "legacy"])
@pytest.mark.parametrize("anchor", ["present", "absent", "edited"])
def test_a_chain_rebuilt_without_the_key_is_refused(ledger: Ledger, how: str, anchor: str) -> None:
    """Refused in every case by the entries' HMACs; the anchor adds its own finding: present,
    the rebuilt head differs from it; absent or edited, it is named as such."""
    populate(ledger)
    _rewrite(ledger, how)
    path = ledger.audit_anchor
    if anchor == "absent":
        path.unlink()
    elif anchor == "edited":  # the attacker points the anchor at their own head
        rows = ledger.audit_rows()
        data = orjson.loads(path.read_bytes())
        path.write_bytes(orjson.dumps(data | {"hash": rows[-1]["hash"]}))
    report = ledger.verify_audit()
    assert not report.ok
    if how == "legacy":
        assert "no entry is keyed: the chain was rewritten without the key" in str(report)
    else:
        assert report.problems[0].key == "(chain)"
        assert "chain does not verify with this key" in report.reason
    expect = {
        "present": "differs from the anchored head: the chain was rewritten",
        "absent": "missing: nothing outside the ledger vouches for the chain's length",
        "edited": "does not verify with this key (edited?)",
    }[anchor]
    # among all the problems (the printed report lists only the first ones)
    assert any(expect in str(p) for p in report.problems), report


def test_a_ledger_opened_with_another_key(ledger_url: str, tmp_path: Path) -> None:
    """verify says so plainly; a writer refuses instead of forking the chain; neither says
    anything of either key."""
    mine = AuditSetup(tmp_path / "mine", "m" * 64)
    other = AuditSetup(tmp_path / "other", "o" * 64)
    with Ledger(ledger_url, audit=mine) as led:
        populate(led)
        assert led.verify_audit().ok
    with Ledger(ledger_url, audit=other) as led:
        report = led.verify_audit()
        assert not report.ok
        assert report.reason.startswith("audit_log (chain): chain does not verify with this key")
        with pytest.raises(ConfigError) as err:
            led.journal_intent("s1", 9, "c9", BTC.id, "buy", Decimal(1), "market", None, 9)
        assert err.value.variable == "NZEZA_AUDIT_KEY"
        assert "does not verify with this audit key" in str(err.value)
        for text in (str(report), str(err.value)):
            assert "m" * 32 not in text and "o" * 32 not in text
    with Ledger(ledger_url, audit=mine) as led:  # nothing was written by the wrong key
        assert led.verify_audit().ok


def test_statements_inside_a_transaction_are_covered(ledger: Ledger) -> None:
    """What another module writes with `transaction()` + SQLAlchemy statements (the trial
    registry does) is covered like the ledger's own writes: inserts (one and many rows, ids
    given by the database), updates and deletes."""
    populate(ledger)
    ev = s.risk_events
    row = dict(session_id="s1", check_name="c", limit_value="1", value="2", detail="", ts=1)
    with ledger.transaction() as conn:
        conn.execute(ins(ev), row)
        conn.execute(ins(ev), [row | {"ts": 2}, row | {"ts": 3}])
        conn.execute(ins(ev).values(**(row | {"ts": 4})))
        conn.execute(update(ev).where(ev.c.ts == 2).values(detail="changed"))
        conn.execute(ev.delete().where(ev.c.ts == 3))
    assert ledger.verify_audit().ok
    assert len(ledger.risk_events("s1")) == 1 + 3
    with ledger.transaction() as conn, pytest.raises(DataError, match="may not change its key"):
        conn.execute(update(ev).where(ev.c.ts == 4).values(id=999))
    assert ledger.verify_audit().ok


def test_a_row_reinserted_under_a_deleted_key_is_named(ledger: Ledger) -> None:
    """SQLite may give a freed id again: the chain then records a second new row under a key
    it had, and verify reports the deletion behind it."""
    populate(ledger)
    with ledger.engine.begin() as conn:
        top = conn.execute(select(func.max(s.equity_snapshots.c.id))).scalar()
        conn.execute(s.equity_snapshots.delete().where(s.equity_snapshots.c.id == top))
    ledger.record_equity("s1", 99, Decimal(1), Decimal(1), Decimal(0), Decimal(0))
    report = ledger.verify_audit()
    if ledger.engine.dialect.name == "sqlite":
        assert not report.ok
        assert "was deleted and its key reused" in str(report.about("equity_snapshots", top)[0])
    else:  # PostgreSQL's sequence never gives it again: the deletion itself is named
        assert "missing" in report.about("equity_snapshots", top)[0].what


def test_an_emptied_chain_is_refused_by_readers_and_writers(ledger: Ledger) -> None:
    populate(ledger)
    with ledger.engine.begin() as conn:
        for name in COVERED_TABLES:
            conn.execute(s.metadata.tables[name].delete())
        conn.execute(s.audit_log.delete())
    report = ledger.verify_audit()
    assert not report.ok and "anchor" in str(report)
    with Ledger(ledger.url) as fresh, pytest.raises(DataError, match="entries were deleted"):
        fresh.start_session("s9", mode="paper", strategy="x", params={}, venue="paper",
                            currency="USDT", initial_balances={})  # fmt: skip
    assert "empty: every entry was deleted" in str(Ledger(ledger.url).verify_audit())


OPS = ["intent", "fill", "equity", "risk", "promotion", "status", "resume point"]


@settings(max_examples=30, deadline=None)
@given(ops=st.lists(st.sampled_from(OPS), min_size=1, max_size=30), data=st.data())
def test_any_single_cell_edit_anywhere_is_named(ops: list[str], data: st.DataObject) -> None:
    """Invariant: whatever the ledger wrote (single writes or batches, in any order), the chain
    verifies, and changing any one stored value of any covered row is named by its table and
    key."""
    with tempfile.TemporaryDirectory() as folder, Ledger(f"sqlite:///{folder}/l.sqlite") as led:
        led.start_session("s", mode="paper", strategy="x", params={}, venue="paper",
                          currency="USDT", initial_balances={"USDT": Decimal(100)})  # fmt: skip
        pf = Portfolio("USDT", {"USDT": 10000}, [BTC])
        block = led.batch() if data.draw(st.booleans(), label="batched") else _nothing()
        with block:
            for i, op in enumerate(ops, start=1):
                if op == "intent":
                    led.journal_intent(
                        "s", i, f"c{i}", BTC.id, "buy", Decimal(1), "market", None, i
                    )
                elif op == "fill":
                    order = Order(f"o{i}", BTC, "buy", Decimal("0.01"))
                    order.apply(OrderSubmitted(i))
                    f = Fill(f"t{i}", f"o{i}", BTC.id, "buy", Decimal("0.01"), Decimal(100),
                             Decimal(0), "USDT", i)  # fmt: skip
                    order.apply(OrderFilled(f))
                    pf.apply_fill(f, persist=led.fill_writer("s", "paper", f, order))
                elif op == "equity":
                    led.record_equity("s", i, Decimal(i), Decimal(i), Decimal(0), Decimal(0))
                elif op == "risk":
                    led.record_risk_event("s", "check", 1, i)
                elif op == "promotion":
                    led.add_promotion(strategy="x", params={}, params_hash="h", target="live",
                                      data_fingerprint="d", notebook_hash="n", gates={},
                                      passed=True)  # fmt: skip
                elif op == "status":
                    led.set_session_status("s", "running", reason=f"r{i}")
                else:
                    led.mark_bar("s", i)
        assert led.verify_audit().ok
        name = data.draw(st.sampled_from([t for t in COVERED_TABLES if stored(led, t)]))
        row = data.draw(st.sampled_from(stored(led, name)))
        table = s.metadata.tables[name]
        col = data.draw(st.sampled_from([c for c in table.columns if c.name not in
                                         COVERED_TABLES[name]]))  # fmt: skip
        with led.engine.begin() as conn:
            value = changed(row[col.name], col)
            conn.execute(update(table).where(where_key(name, row)).values({col.name: value}))
        report = led.verify_audit()
        named = report.about(name, key_value(name, row))
        assert named and "edited" in named[0].what, report


def test_a_failed_statement_leaves_nothing_to_cover(ledger: Ledger) -> None:
    """A resumed session: its INSERT fails (the row exists), the ledger catches that and
    updates the row instead; nothing of the failed INSERT reaches the chain (found by the
    crash-recovery test, where a restart made verify report the session row as reused)."""
    populate(ledger)
    assert ledger.start_session("s1", mode="paper", strategy="sma_cross", params={"fast": 10},
                                venue="paper", currency="USDT",
                                initial_balances={"USDT": Decimal(10000)}) is False  # fmt: skip
    ledger.set_session_status("s1", "stopped", reason="again")
    report = ledger.verify_audit()
    assert report.ok, report


def test_verifying_without_any_key_says_so(ledger: Ledger, tmp_path: Path) -> None:
    populate(ledger)
    with Ledger(ledger.url, audit=AuditSetup(tmp_path / "empty", None)) as elsewhere:
        report = elsewhere.verify_audit()
        assert not report.ok
        assert report.problems[0].key == "(key)" and "no audit key" in report.reason
        assert elsewhere.audit_anchor is None
    assert not (tmp_path / "empty").exists()  # verifying never makes a key


def test_an_entry_inserted_before_the_genesis(ledger: Ledger) -> None:
    """A forged opening entry ahead of the real one (so that the ledger's anchor would be looked
    up under another ledger id) is named, and so is the anchor it points to."""
    populate(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(
            s.audit_log.insert().values(
                seq=0,
                ts=0,
                session_id=None,
                kind="genesis",
                payload='{"ledger_id":"forged"}',
                prev_hash=GENESIS,
                hash="f" * 64,
            )
        )
    report = Ledger(ledger.url).verify_audit()
    text = str(report)
    assert not report.ok
    assert "audit_log seq 0: out of order: an entry was inserted" in text
    assert "an earlier genesis/adoption entry named forged" in text
