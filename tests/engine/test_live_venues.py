"""A live session on each of the five venues, end to end, killed mid-session and resumed.

Everything real and on 127.0.0.1, behind TLS proxies whose certificate a test CA signed
(`NZEZA_CA_FILE`): the venue's REST server (the ccxt simulators, checking each venue's
authentication; for dYdX the node + indexer stub, checking every Cosmos signature the way a
validator does, matching at an oracle that follows the feed) and its public trade stream in the
venue's own websocket protocol (`support.venue_streams`, real BTCUSDT trades). `nzeza live` runs
with every gate in place; `NZEZA_CRASH_AT=after_submit:2` kills it (os._exit, like kill -9) right
after the venue accepted its second order and before anything about that order reached the
ledger; the same `--session-id` resumes it, and SIGTERM stops it once the tape is through.

Then, per venue: every order went out once under a client id valid on that venue (Kraken's
UUID form, Hyperliquid's 128-bit cloid, dYdX's uint32 mapped to the session in the ledger),
every venue fill of the session's orders is in the ledger exactly once (the killed order's fill
was reconciled, not resubmitted), and the ledger's position is what the venue filled.

Before: `nzeza live` refused every venue but Binance ("live sessions read their trades from
binance only"), built a ccxt adapter for dYdX, and sent `nz…` ids Kraken, Hyperliquid and dYdX
refuse.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine.test_live_session import LoopThread, make_tls_files, tls_proxy
from support.promotions import grant_live
from support.venue_streams import VenueStream, capture_tape
from venues.test_ccxt_venues import (
    BINANCE_KEY,
    BINANCE_SECRET,
    COINBASE_NAME,
    COINBASE_PEM,
    COINBASE_PUB,
    HL_KEY,
    HL_WALLET,
    KRAKEN_KEY,
    KRAKEN_SECRET,
)
from venues.test_dydx import TEST_MNEMONIC

from nzeza.execution.client_ids import validate_client_id
from nzeza.ops.settings import LIVE_CONFIRMATION
from nzeza.store import Ledger

ROOT = Path(__file__).resolve().parents[2]
TF_NS = 1_000_000_000
TAPE = capture_tape(limit=2500, files=1)
# the session's symbol on each venue's simulator (any spelling), and its stream's spelling
SYMBOL = {
    "binance": ("BTCUSDT", "BTCUSDT"),
    "coinbase": ("BTC-USD", "BTC-USD"),
    "kraken": ("BTC/USDT", "BTC/USDT"),
    "hyperliquid": ("BTC", "BTC"),
    "dydx": ("BTC-USD", "BTC-USD"),
}


def make_sim(venue: str, stream: VenueStream) -> Any:
    if venue == "binance":
        from support.sim.binance import BinanceSim

        return BinanceSim()
    if venue == "coinbase":
        from support.sim.coinbase import CoinbaseSim

        return CoinbaseSim(COINBASE_NAME, COINBASE_PUB)
    if venue == "kraken":
        from support.sim.kraken import KrakenSim

        return KrakenSim(KRAKEN_KEY, KRAKEN_SECRET)
    if venue == "hyperliquid":
        from support.sim.hyperliquid import HyperliquidSim

        return HyperliquidSim(HL_WALLET)
    from support.sim.dydx import DydxStub

    from nzeza.venues.dydx.keys import address_from_mnemonic

    stub = DydxStub(fill_at="oracle", oracle=stream.last_price)
    stub.add_account(address_from_mnemonic(TEST_MNEMONIC), account_number=11, sequence=0)
    return stub


def venue_env(venue: str, rest: str, ws: str) -> dict[str, str]:
    v = f"NZEZA_{venue.upper()}__"
    env = {f"{v}WS_URL": ws, f"{v}REST_URL": rest}
    if venue == "binance":
        env.update({f"{v}API_KEY": BINANCE_KEY, f"{v}API_SECRET": BINANCE_SECRET})
    elif venue == "coinbase":
        env.update({f"{v}API_KEY": COINBASE_NAME, f"{v}API_SECRET": COINBASE_PEM})
    elif venue == "kraken":
        env.update({f"{v}API_KEY": KRAKEN_KEY, f"{v}API_SECRET": KRAKEN_SECRET})
    elif venue == "hyperliquid":
        env[f"{v}PRIVATE_KEY"] = HL_KEY
    else:  # the indexer's v4 root and the node's gateway are one stub here
        env.update(
            {
                f"{v}REST_URL": rest + "/v4",
                f"{v}NODE_URL": rest,
                f"{v}MNEMONIC": TEST_MNEMONIC,
                f"{v}CHAIN_ID": "dydx-testnet-4",
            }
        )
    return env


def venue_orders(venue: str, sim: Any) -> dict[str, Decimal]:
    """client order id → filled quantity, as the venue holds them."""
    if venue == "binance":
        return {o["clientOrderId"]: Decimal(o["executedQty"]) for o in sim.orders.values()}
    if venue == "dydx":
        return {o["clientId"]: Decimal(o["totalFilled"]) for o in sim.orders}
    return {o.cid: o.filled for o in sim.orders.values()}


def venue_fill_count(venue: str, sim: Any) -> int:
    return len(sim.fills) if venue == "dydx" else len(sim.trades)


@pytest.fixture
def live_venue(request, tmp_path):
    venue = request.param
    ca_file, cert_file, key_file = make_tls_files(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    loops = LoopThread()
    # at 10× the capture's pace: a session keeps up, and what a killed one never read is lost
    stream = VenueStream(venue, TAPE, symbol=SYMBOL[venue][1], speed=10.0)
    loops.call(stream.start())
    sim = make_sim(venue, stream)
    rest_plain = loops.call(sim.start())
    rest_proxy = loops.call(tls_proxy(int(rest_plain.rsplit(":", 1)[1]), server_ctx))
    ws_proxy = loops.call(tls_proxy(stream.port, server_ctx))
    port = lambda srv: srv.sockets[0].getsockname()[1]  # noqa: E731
    rest = f"https://127.0.0.1:{port(rest_proxy)}"
    ws = f"wss://127.0.0.1:{port(ws_proxy)}" + ("" if venue == "binance" else "/ws")
    yield {
        "venue": venue,
        "sim": sim,
        "stream": stream,
        "env": {**venue_env(venue, rest, ws), "NZEZA_CA_FILE": str(ca_file)},
    }
    for srv in (rest_proxy, ws_proxy):
        srv.close()
    loops.call(sim.stop())
    loops.call(stream.stop())
    loops.close()


def live(tmp: Path, rig: dict, ledger_url: str, crash_at: str | None = None) -> subprocess.Popen:
    venue = rig["venue"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env.update(rig["env"], NZEZA_LIVE_VENUE=venue)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])  # this checkout
    if crash_at:
        env["NZEZA_CRASH_AT"] = crash_at
    cmd = [sys.executable, "-m", "nzeza.cli", "live", "--strategy"]
    cmd += ["support.toy_strategies:SmaLike", "--params", "short=true", "--timeframe", "1s"]
    cmd += ["--symbol", SYMBOL[venue][0], "--session-id", f"live-{venue}", "--ledger", ledger_url]
    cmd += ["--confirm", LIVE_CONFIRMATION]
    return subprocess.Popen(
        cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def last_bar(ledger_url: str, sid: str) -> int | None:
    with Ledger(ledger_url) as led:
        row = led.session(sid)
    return None if row is None else row.get("last_bar_ts")


@pytest.mark.parametrize(
    "live_venue", ["binance", "coinbase", "kraken", "hyperliquid", "dydx"], indirect=True
)
def test_a_live_session_on_each_venue_trades_is_killed_and_resumes_without_loss(
    tmp_path, live_venue
) -> None:
    rig, venue = live_venue, live_venue["venue"]
    sid = f"live-{venue}"
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    grant_live(
        ledger_url,
        "support.toy_strategies:SmaLike",
        {"short": True},
        symbol=SYMBOL[venue][0],
        venue=venue,
        timeframe="1s",
    )
    # 1. killed right after the venue accepted order 2 (its fill is at the venue only)
    first = live(tmp_path, rig, ledger_url, crash_at="after_submit:2")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 137, (out, err[-3000:])
    sim = rig["sim"]
    assert len(venue_orders(venue, sim)) == 2
    with Ledger(ledger_url) as led:
        assert len(led.fills(sid)) == 1 and len(led.intents(sid)) == 2
    # 2. resumed with the same session id, stopped by SIGTERM once the tape is through
    second = live(tmp_path, rig, ledger_url)
    final_bar = (TAPE[-1].ts_ns // TF_NS) * TF_NS - TF_NS  # the last bar that closes
    try:
        deadline = time.monotonic() + float(
            os.environ.get("LV_WAIT", 240)
        )  # a bound on waiting, not a timing assertion
        while second.poll() is None and time.monotonic() < deadline:
            if last_bar(ledger_url, sid) == final_bar:
                break
            time.sleep(0.25)
        assert second.poll() is None, second.communicate()
        if last_bar(ledger_url, sid) != final_bar:
            second.send_signal(signal.SIGTERM)
            raise AssertionError(f"the resumed session did not get through: {second.communicate()}")
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=120)
    finally:
        if second.poll() is None:
            second.kill()
            second.communicate()
    assert second.returncode == 0, err[-3000:]
    assert f"resuming live session {sid}" in out and "signal SIGTERM" in out
    assert "(1 reconciled, 0 resubmitted)" in out, out  # order 2's fill, found at the venue
    at_venue = venue_orders(venue, sim)
    with Ledger(ledger_url) as led:
        intents = led.intents(sid)
        fills = led.fills(sid)
        orders = {o["client_order_id"]: o for o in led.orders(sid)}
        position = led.positions(sid)
        assert led.verify_audit().ok
        assert led.session(sid)["status"] == "stopped"
        if venue == "dydx":  # uint32 ids: the ledger says they are this session's
            assert set(led.client_ids(sid, "dydx")) >= {i["client_order_id"] for i in intents}
    sent = [i["client_order_id"] for i in intents]
    assert len(sent) > 3
    # every order once, under an id the venue accepts; none the session did not journal
    for cid in sent:
        validate_client_id(cid, venue)
    assert sorted(at_venue) == sorted(sent)
    # every venue fill once in the ledger, per order the quantity the venue filled
    assert len({f.trade_id for f in fills}) == len(fills) == venue_fill_count(venue, sim)
    for cid, filled in at_venue.items():
        booked = sum((f.quantity for f in fills if f.order_id == cid), Decimal(0))
        assert booked == filled > 0, cid
        assert orders[cid]["status"] == "filled"
    net = sum((f.quantity if f.side.value == "buy" else -f.quantity for f in fills), Decimal(0))
    [(inst_id, pos)] = position.items()
    assert inst_id.startswith(f"{venue}:") and pos["quantity"] == net
    assert rig["stream"].connections >= 2  # each run subscribed to the venue's own stream
