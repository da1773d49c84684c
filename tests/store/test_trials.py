"""The trial registry and verdicts in the ledger: counts, blobs, and two writers at once.

Both backends (the `ledger_url` fixture: SQLite, and PostgreSQL where configured)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sqlalchemy import func, select, text, update

from nzeza.errors import DataError
from nzeza.store import Ledger
from nzeza.store import schema as s
from nzeza.store.trials import (
    TrialGroup,
    TrialSpec,
    decode_returns,
    distinct_trials,
    encode_returns,
    group_rows,
    groups,
    load_returns,
    register_trials,
)

GROUP = TrialGroup("tests.store:Toy", "f" * 16, "1h")


def specs(values: list[int]) -> list[TrialSpec]:
    return [TrialSpec(json.dumps({"a": v}), f"{v:064x}", 0.01 * v, 99) for v in values]


def register(
    ledger: Ledger,
    values: list[int],
    *,
    source_hash: str = "a" * 64,
    costs: str = '{"fee":0.001}',
    group: TrialGroup = GROUP,
    seed: int = 0,
):
    returns = np.random.default_rng(seed).normal(0, 0.01, (100, len(values))).astype(np.float32)
    reg = register_trials(
        ledger,
        group=group,
        identity=f"{group.family}@{source_hash[:16]}",
        source_hash=source_hash,
        strategy="toy",
        costs=costs,
        data_start_ns=0,
        data_end_ns=99,
        n_bars=100,
        source="sweep",
        run_id="r",
        code_version="test",
        trials=specs(values),
        returns=returns,
    )
    return reg, returns


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
        elements=st.floats(-1, 1, width=32),
    )
)
def test_returns_blobs_round_trip_bit_for_bit(values) -> None:
    back = decode_returns(encode_returns(values))
    assert back.dtype == np.float32 and back.shape == values.shape
    assert back.tobytes() == np.ascontiguousarray(values).tobytes()


def test_counts_distinct_trials_and_reruns_add_nothing(ledger: Ledger) -> None:
    reg, returns = register(ledger, [1, 2, 3])
    assert (reg.new, reg.distinct, reg.group_was_new) == (3, 3, True)
    again, _ = register(ledger, [3, 2, 1, 1])
    assert (again.new, again.distinct, again.group_was_new) == (0, 3, False)
    assert again.returns_sha256 is None
    grown, _ = register(ledger, [2, 4])
    assert (grown.new, grown.distinct) == (1, 4)
    rows = group_rows(ledger, GROUP)
    assert len(rows) == 4
    np.testing.assert_array_equal(load_returns(ledger, rows[:3]), returns.astype(float))


def test_other_costs_are_rows_not_trials_and_changed_code_is_a_trial(ledger: Ledger) -> None:
    register(ledger, [1, 2])
    other_costs, _ = register(ledger, [1, 2], costs='{"fee":0.002}', seed=1)
    assert (other_costs.new, other_costs.distinct) == (2, 2)
    rows = group_rows(ledger, GROUP)
    chosen = distinct_trials(rows, costs='{"fee":0.001}')
    assert [r["costs"] for r in chosen] == ['{"fee":0.001}'] * 2
    assert [r["costs"] for r in distinct_trials(rows)] == ['{"fee":0.002}'] * 2  # newest
    edited, _ = register(ledger, [1], source_hash="b" * 64)
    assert (edited.new, edited.distinct, edited.group_was_new) == (1, 3, False)


def test_a_new_data_set_or_timeframe_is_a_new_group(ledger: Ledger) -> None:
    register(ledger, [1, 2])
    other = TrialGroup(GROUP.family, "e" * 16, GROUP.timeframe)
    reg, _ = register(ledger, [1, 2], group=other)
    assert reg.group_was_new and reg.distinct == 2
    hourly = TrialGroup(GROUP.family, GROUP.dataset, "4h")
    assert register(ledger, [1], group=hourly)[0].group_was_new
    summary = {(g["dataset"], g["timeframe"]): g["distinct_trials"] for g in groups(ledger)}
    assert summary == {("f" * 16, "1h"): 2, ("e" * 16, "1h"): 2, ("f" * 16, "4h"): 1}
    assert groups(ledger, "nope:Nope") == []


def test_altered_returns_are_detected(ledger: Ledger) -> None:
    register(ledger, [1, 2])
    rows = group_rows(ledger, GROUP)
    blob = encode_returns(np.zeros((100, 2), dtype=np.float32))
    with ledger.engine.begin() as conn:
        conn.execute(update(s.trial_returns).values(data=blob))
    with pytest.raises(DataError, match="do not match their hash"):
        load_returns(ledger, rows)


def test_each_registration_and_verdict_is_on_the_audit_chain(ledger: Ledger) -> None:
    register(ledger, [1, 2])
    register(ledger, [1, 2])
    events = [r for r in ledger.audit_rows() if r["kind"] == "trials"]
    assert len(events) == 2
    payloads = [json.loads(r["payload"]) for r in events]
    assert [p["new"] for p in payloads] == [2, 0] and payloads[0]["returns_sha256"]
    report = ledger.verify_audit()
    assert report.ok, report
    assert report.covered_rows == 3  # two trial rows and their returns blob, each on the chain


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from nzeza.store import Ledger
    from nzeza.store.trials import TrialGroup, TrialSpec, register_trials

    url, first = sys.argv[1], int(sys.argv[2])
    group = TrialGroup("tests.store:Toy", "f" * 16, "1h")
    with Ledger(url) as led:
        print("ready", flush=True)
        sys.stdin.readline()  # both processes start at the same moment
        for chunk in range(150):
            values = [first + chunk * 3 + k for k in range(6)]  # overlaps the other writer
            register_trials(
                led, group=group, identity="tests.store:Toy@" + "a" * 16, source_hash="a" * 64,
                strategy="toy", costs="{}", data_start_ns=0, data_end_ns=49, n_bars=50,
                source="sweep", run_id=f"{first}-{chunk}", code_version="test",
                trials=[TrialSpec(str(v), f"{v:064x}", 0.0, 49) for v in values],
                returns=np.full((50, 6), first, dtype=np.float32),
            )
    print("done", flush=True)
    """
)


def test_two_processes_registering_at_once_store_each_trial_once(ledger_url: str) -> None:
    Ledger(ledger_url).close()  # schema in place before the writers race
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, ledger_url, str(first)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for first in (0, 30)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == "done"
    want = {
        v
        for first in (0, 30)
        for chunk in range(150)
        for v in range(first + chunk * 3, first + chunk * 3 + 6)
    }
    with Ledger(ledger_url) as led:
        rows = group_rows(led, GROUP)
        assert sorted(int(r["params"]) for r in rows) == sorted(want)  # each exactly once
        assert groups(led)[0]["distinct_trials"] == len(want)
        load_returns(led, rows)  # every row points at an intact blob
        assert led.verify_audit().ok
        with led.engine.connect() as conn:
            kinds = select(func.count()).select_from(s.audit_log)
            n = conn.execute(kinds.where(s.audit_log.c.kind == "trials")).scalar()
            assert n == 300  # one registration event per call
            assert conn.execute(text("SELECT COUNT(*) FROM trials")).scalar() == len(want)


def test_a_v2_ledger_gains_the_registry_tables(tmp_path) -> None:
    """Migration 3 on a ledger made before the registry existed (schema v2, with a session)."""
    from sqlalchemy import create_engine, inspect

    url = f"sqlite:///{tmp_path / 'v2.sqlite'}"
    engine = create_engine(url)
    new = {"trials", "trial_returns", "verdicts"}
    with engine.begin() as conn:
        s.metadata.create_all(
            conn, tables=[t for t in s.metadata.sorted_tables if t.name not in new]
        )
        conn.execute(
            text("INSERT INTO schema_version VALUES (1, 'initial', 0), (2, 'recovery', 0)")
        )
    engine.dispose()
    with Ledger(url) as led:
        assert led.schema_version >= 3
        assert new <= set(inspect(led.engine).get_table_names())
        reg, _ = register(led, [1, 2])
        assert reg.distinct == 2
