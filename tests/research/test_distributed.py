"""Sweeps on a Dask cluster (a real distributed.LocalCluster of 2 worker processes) equal the
single-process sweep, from the library and from `nzeza sweep --scheduler`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research import sweep
from nzeza.research.distributed import run_chunks
from nzeza.strategies import SmaCross

COSTS = Costs(0.001, 0.0005)
GRID = {"fast": [3, 5, 8, 13, 21], "slow": [34, 55, 89, 144]}


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    ) as local:
        yield local


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h").iloc[-5000:]


def test_a_sweep_on_a_local_cluster_equals_the_single_process_sweep(cluster, bars) -> None:
    here = sweep(SmaCross, bars, GRID, COSTS, progress=False, chunk_size=3, keep_returns=True)
    there = sweep(
        SmaCross,
        bars,
        GRID,
        COSTS,
        progress=False,
        chunk_size=3,
        keep_returns=True,
        scheduler=cluster.scheduler_address,  # tcp://127.0.0.1:PORT, as --scheduler takes it
    )
    pd.testing.assert_frame_equal(here, there, check_exact=True)
    assert np.array_equal(here.attrs["returns"], there.attrs["returns"])
    assert here.attrs["n_trials"] == there.attrs["n_trials"] == 20
    assert here.attrs["index"].equals(there.attrs["index"])


def test_the_chunks_really_ran_on_the_workers(cluster) -> None:
    import os

    def where(chunk: list[int], offset: int) -> tuple[int, list[int]]:
        return os.getpid(), [x + offset for x in chunk]

    out = dict(run_chunks(where, [[1, 2], [3], [4, 5]], (10,), scheduler=cluster.scheduler_address))
    assert [out[i][1] for i in range(3)] == [[11, 12], [13], [14, 15]]
    from dask.distributed import Client

    with Client(cluster) as client:
        workers = set(client.run(os.getpid).values())
    assert len(workers) == 2 and {pid for pid, _ in out.values()} <= workers


class FailsOnSome(SmaCross):
    def target(self, bars: pd.DataFrame) -> pd.Series:
        if self.fast == 8:
            raise ValidationError("fast", self.fast, "refused on the worker")
        return super().target(bars)


def test_an_error_in_a_task_is_raised_here_with_its_type(cluster, bars) -> None:
    with pytest.raises(ValidationError) as err:
        sweep(
            FailsOnSome,
            bars,
            GRID,
            COSTS,
            progress=False,
            chunk_size=2,
            scheduler=cluster.scheduler_address,
        )
    assert err.value.field == "fast" and "refused on the worker" in str(err.value)
    # the cluster is still usable afterwards
    address = cluster.scheduler_address
    table = sweep(SmaCross, bars, {"fast": [5], "slow": [34]}, progress=False, scheduler=address)
    assert len(table) == 1


def test_the_cli_sweep_on_a_cluster_prints_the_same_table(cluster, tmp_path) -> None:
    def run(ledger: str, *extra: str) -> subprocess.CompletedProcess:
        args = ["sweep", "sma_cross", "--last", "3000", "--grid", "fast=5,10,20", "slow=40,80"]
        args += ["--ledger", f"sqlite:///{tmp_path / ledger}"]
        return subprocess.run(
            [sys.executable, "-m", "nzeza.cli", *args, *extra],
            capture_output=True,
            text=True,
            timeout=300,
        )

    # a ledger each: both runs register the same six trials as a new group, and say so
    here = run("here.sqlite")
    there = run("there.sqlite", "--scheduler", cluster.scheduler_address)
    assert here.returncode == 0, here.stderr
    assert there.returncode == 0, there.stderr
    assert there.stdout == here.stdout
    assert "6 combinations tried" in there.stdout


def test_the_cli_names_a_bad_scheduler() -> None:
    args = ["sweep", "sma_cross", "--last", "500", "--grid", "fast=5", "slow=40"]
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", *args, "--scheduler", "threads"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "scheduler" in out.stderr and "threads" in out.stderr
    assert "Traceback" not in out.stderr
