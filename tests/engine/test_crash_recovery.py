"""Kill a paper session for real, many times, and restart it with the same session id.

The session runs in a subprocess (`nzeza paper`) fed by the websocket replay server (real
sockets on 127.0.0.1, the bundled Binance capture) against the durable paper venue (its own
SQLite file: the "exchange"). It is killed with os._exit at each named crash point (after
journaling an intent, after the venue took the order, after a fill, after a bar), twice each,
and with SIGKILL from outside at 8 random moments. Across all kills: zero lost fills, zero
duplicate orders, and the final equity equals an uninterrupted run's.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from nzeza.store import Ledger

ROOT = Path(__file__).resolve().parents[2]
ARGS = [
    "--strategy",
    "support.toy_strategies:SmaLike",
    "--params",
    "short=true",
    "--timeframe",
    "5s",
]


class Server:
    """A ReplayServer on its own event loop thread."""

    def __init__(self, speed: float | None) -> None:
        import asyncio
        import threading

        from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
        from nzeza.feeds.replay import ReplayServer

        self.loop = asyncio.new_event_loop()
        self.server = ReplayServer([bundled(n) for n in BINANCE_BTCUSDT], speed=speed)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def servers():
    fast, paced = Server(None), Server(60.0)
    yield {"fast": fast.url, "paced": paced.url}
    fast.close()
    paced.close()


def run(
    tmp: Path,
    session: str,
    feed: str,
    *,
    crash_at: str | None = None,
    kill_after: float | None = None,
) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    env.pop("NZEZA_CRASH_AT", None)
    if crash_at:
        env["NZEZA_CRASH_AT"] = crash_at
    cmd = [
        sys.executable,
        "-m",
        "nzeza.cli",
        "paper",
        *ARGS,
        "--session-id",
        session,
        "--ledger",
        f"sqlite:///{tmp / 'ledger.sqlite'}",
        "--venue-db",
        str(tmp / "venue.sqlite"),
        "--feed",
        feed,
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    if proc.returncode not in (0, 137, -9):
        raise AssertionError(f"session failed ({proc.returncode}):\n{out}\n{err}")
    return proc.returncode


def venue_orders(tmp: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(tmp / "venue.sqlite") as db:
        return [r[0] for r in db.execute("SELECT client_order_id FROM orders")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, servers) -> dict:
    tmp = tmp_path_factory.mktemp("reference")
    assert run(tmp, "ref", servers["fast"]) == 0
    with Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}") as led:
        fills = led.fills("ref")
        equity = led.equity_curve("ref")[-1][1]
    return {"fills": [(f.side.value, f.quantity, f.price, f.ts) for f in fills], "equity": equity}


def test_kill_at_every_crash_point_and_at_random_then_resume(tmp_path, reference, servers) -> None:
    assert len(reference["fills"]) >= 5
    rng = random.Random(20241122)
    # each crash point twice (after_bar at a random bar of the run): the process dies there
    # like kill -9, with no cleanup and no flush
    points = [
        f"{name}:{rng.randint(2, 6) if name == 'after_bar' else 1}"
        for name in ("after_journal", "after_submit", "after_fill", "after_bar") * 2
    ]
    rng.shuffle(points)
    for point in points:
        code = run(tmp_path, "crashy", servers["fast"], crash_at=point)
        assert code == 137, f"{point} did not crash (exit {code})"
    # then SIGKILL from outside at random moments while trading (the paced feed makes each run
    # last longer than the kill delay, so the kill lands mid-run)
    random_kills = 0
    for _ in range(8):
        code = run(tmp_path, "crashy", servers["paced"], kill_after=rng.uniform(1.5, 4.0))
        random_kills += code in (-9, 137)
    assert random_kills >= 6, f"only {random_kills} of 8 random kills landed mid-run"
    assert run(tmp_path, "crashy", servers["fast"]) == 0  # finishes
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        fills = led.fills("crashy")
        intents = led.intents("crashy")
        equity = led.equity_curve("crashy")[-1][1]
        audit = led.verify_audit()
    got = [(f.side.value, f.quantity, f.price, f.ts) for f in fills]
    # zero lost fills (and none extra): the same fills, in order, as the uninterrupted run
    assert got == reference["fills"]
    assert len({f.trade_id for f in fills}) == len(fills)
    # zero duplicate orders: one venue order per intent, one fill per venue order
    orders = venue_orders(tmp_path)
    assert len(orders) == len(set(orders)) == len(fills)
    assert sorted(orders) == sorted(i["client_order_id"] for i in intents)
    assert Decimal(equity) == reference["equity"]
    assert audit.ok


def test_second_run_of_a_finished_session_changes_nothing(tmp_path, servers) -> None:
    assert run(tmp_path, "twice", servers["fast"]) == 0
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        before = led.fills("twice")
    t0 = time.monotonic()
    assert run(tmp_path, "twice", servers["fast"]) == 0
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        assert led.fills("twice") == before
    assert time.monotonic() - t0 < 120


def test_an_intent_whose_fill_was_booked_before_a_crash_is_done_after_resume(
    tmp_path, servers
) -> None:
    """Killed between booking a fill and marking its intent done: the resumed session marks
    it done (before: it stayed `journaled` for good, though its order had filled)."""
    assert run(tmp_path, "af", servers["fast"], crash_at="after_fill:1") == 137
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"

    def journaled_but_filled() -> list[str]:
        with Ledger(url) as led:
            filled = {f.order_id for f in led.fills("af")}
            return [
                i["client_order_id"]
                for i in led.intents("af")
                if i["status"] == "journaled" and i["client_order_id"] in filled
            ]

    assert len(journaled_but_filled()) == 1  # what the crash left
    assert run(tmp_path, "af", servers["fast"]) == 0
    assert journaled_but_filled() == []
