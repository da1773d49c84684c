"""`nzeza live` with every gate in place runs the one session loop against a venue over TLS.

Everything is real and on 127.0.0.1: a Binance REST simulator (the endpoints and shapes ccxt's
binance uses) and the replay server speaking Binance's trade stream, each behind a TLS proxy
whose certificate is signed by a test CA (`NZEZA_CA_FILE`); https/wss endpoints, well-formed
credentials, explicit confirmation and a live promotion of exactly this strategy + parameters.
The session trades through ccxt, is stopped by SIGTERM, and the ledger matches the venue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from support.promotions import grant_live
from support.sim.binance import BinanceSim

from nzeza.ops.settings import LIVE_CONFIRMATION
from nzeza.store import Ledger

ROOT = Path(__file__).resolve().parents[2]
KEY = "L" * 32 + "k" * 32
SECRET = "T" * 30 + "s" * 34
BARS_IN_CAPTURE = 130


def make_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for IP 127.0.0.1 signed by it (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("nzeza test CA"))
        .issuer_name(name("nzeza test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(pem))
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file


class LoopThread:
    """An event loop on a daemon thread, for servers the subprocess session talks to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def tls_proxy(backend_port: int, ctx: ssl.SSLContext) -> asyncio.Server:
    """Terminate TLS on a free port and pipe the plain bytes to 127.0.0.1:`backend_port`."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            b_reader, b_writer = await asyncio.open_connection("127.0.0.1", backend_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, b_writer), pipe(b_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)


@pytest.fixture
def sim_balances() -> dict | None:
    """The simulated account's balances (None: the simulator's default)."""
    return None


@pytest.fixture
def tls_venue(tmp_path, replay_server, sim_balances):
    """The Binance REST simulator and the trade stream, each behind TLS on loopback."""
    ca_file, cert_file, key_file = make_tls_files(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    stream = replay_server()  # Binance's combined-stream protocol, never closes: a live feed
    loops = LoopThread()
    sim = BinanceSim()
    if sim_balances is not None:
        sim.balances = {k: Decimal(str(v)) for k, v in sim_balances.items()}
    rest_plain = loops.call(sim.start())
    rest_proxy = loops.call(tls_proxy(int(rest_plain.rsplit(":", 1)[1]), server_ctx))
    ws_proxy = loops.call(tls_proxy(stream.server.port, server_ctx))
    port = lambda srv: srv.sockets[0].getsockname()[1]  # noqa: E731
    yield {
        "sim": sim,
        "ca_file": ca_file,
        "rest_url": f"https://127.0.0.1:{port(rest_proxy)}",
        "ws_url": f"wss://127.0.0.1:{port(ws_proxy)}",
    }
    for srv in (rest_proxy, ws_proxy):
        srv.close()
    loops.call(sim.stop())
    loops.close()


def test_live_session_over_tls_with_every_gate_in_place(tmp_path, tls_venue) -> None:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    grant_live(ledger_url, "support.toy_strategies:SmaLike", {"short": True}, timeframe="5s")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),  # this checkout
        NZEZA_LIVE_VENUE="binance",
        NZEZA_BINANCE__API_KEY=KEY,
        NZEZA_BINANCE__API_SECRET=SECRET,
        NZEZA_BINANCE__REST_URL=tls_venue["rest_url"],
        NZEZA_BINANCE__WS_URL=tls_venue["ws_url"],
        NZEZA_CA_FILE=str(tls_venue["ca_file"]),
    )
    cmd = [sys.executable, "-m", "nzeza.cli", "live", "--strategy"]
    cmd += ["support.toy_strategies:SmaLike", "--params", "short=true", "--timeframe", "5s"]
    cmd += ["--session-id", "live1", "--ledger", ledger_url, "--confirm", LIVE_CONFIRMATION]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 180  # a bound on waiting, not a timing assertion
        bars = 0
        while bars < BARS_IN_CAPTURE and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.25)
            with Ledger(ledger_url) as led:
                if led.session("live1") is not None:
                    bars = len(led.equity_curve("live1"))
        assert proc.poll() is None, proc.communicate()
        assert bars == BARS_IN_CAPTURE
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "starting live session live1" in out and "signal SIGTERM" in out
    assert SECRET not in out + err and KEY not in out + err
    sim = tls_venue["sim"]
    with Ledger(ledger_url) as led:
        row = led.session("live1")
        fills = led.fills("live1")
        intents = led.intents("live1")
        orders = led.orders("live1")
        assert led.verify_audit().ok
    assert (row["mode"], row["venue"], row["status"]) == ("live", "binance", "stopped")
    # every order went to the venue once, by its client id; every venue trade is in the ledger
    sent = [o["clientOrderId"] for o in sim.orders.values()]
    assert len(sent) == len(set(sent)) == len(intents) > 3
    assert sorted(sent) == sorted(i["client_order_id"] for i in intents)
    assert sorted(f.trade_id for f in fills) == sorted(str(t["id"]) for t in sim.trades)
    assert {f.price for f in fills} <= {Decimal("60000.00"), Decimal("60000.01")}
    assert {o["status"] for o in orders} == {"filled"} and len(orders) == len(intents)
    assert all(f.instrument_id == "binance:BTC/USDT" for f in fills)


# -- live sizes from the account -----------------------------------------------------------------
def promote_live(ledger_url: str, **binding: object) -> None:
    grant_live(
        ledger_url, "support.toy_strategies:SmaLike", {"short": True}, timeframe="5s", **binding
    )


def live_cli(
    tmp_path,
    tls_venue,
    sid: str,
    *args: str,
    wait_bars: int | None = BARS_IN_CAPTURE,
    orders: dict | None = None,
):
    """`nzeza live` against the TLS venue; with `wait_bars`, SIGTERM once that many bars are in
    the ledger; `orders`: the order policy the promotion binds. Returns (returncode, stdout,
    stderr, ledger url)."""
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    promote_live(ledger_url, **({} if orders is None else {"orders": orders}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env.update(
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        NZEZA_LIVE_VENUE="binance",
        NZEZA_BINANCE__API_KEY=KEY,
        NZEZA_BINANCE__API_SECRET=SECRET,
        NZEZA_BINANCE__REST_URL=tls_venue["rest_url"],
        NZEZA_BINANCE__WS_URL=tls_venue["ws_url"],
        NZEZA_CA_FILE=str(tls_venue["ca_file"]),
    )
    cmd = [sys.executable, "-m", "nzeza.cli", "live", "--strategy"]
    cmd += ["support.toy_strategies:SmaLike", "--params", "short=true", "--timeframe", "5s"]
    cmd += ["--session-id", sid, "--ledger", ledger_url, "--confirm", LIVE_CONFIRMATION, *args]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        if wait_bars is not None:
            deadline = time.monotonic() + 180  # a bound on waiting, not a timing assertion
            bars = 0
            while bars < wait_bars and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.25)
                with Ledger(ledger_url) as led:
                    if led.session(sid) is not None:
                        bars = len(led.equity_curve(sid))
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err, ledger_url


@pytest.mark.parametrize("sim_balances", [{"USDT": 100, "BTC": 0}])
def test_live_never_sends_an_order_the_account_cannot_cover(tmp_path, tls_venue) -> None:
    """The account holds 100 USDT: the session sizes from half of it, and nothing it sends
    is above what the account holds (before: sized from --cash, 10,000 by default — and
    --cash 1e9 sent a 16,149 BTC order)."""
    code, _, err, url = live_cli(tmp_path, tls_venue, "small")
    assert code == 0, err
    sim = tls_venue["sim"]
    # the venue never had to refuse an order for want of balance: none such was sent
    assert [(o["side"], o["quantity"]) for o in sim.refused] == []
    sent = list(sim.orders.values())
    assert sent, "the session traded"
    notional = [Decimal(o["cummulativeQuoteQty"]) for o in sent]
    assert max(notional) <= Decimal(100), notional
    with Ledger(url) as led:
        row = led.session("small")
        events = led.risk_events("small")
        audit = [r["kind"] for r in led.audit_rows("small")]
    assert json.loads(row["initial_balances"]) == {"USDT": "50.00000000"}  # 0.5 of 100
    # a spot account holding no BTC cannot sell it: the short leg is refused, and recorded
    assert {e["check_name"] for e in events} <= {"account_balance"}
    assert all("BTC free" in e["limit_value"] for e in events)
    assert "account" in audit  # balances read at the start's reconcile


def test_live_refuses_to_start_without_balances(tmp_path, tls_venue) -> None:
    tls_venue["sim"].fail_next(
        401, -2015, "Invalid API-key, IP, or permissions.", "/api/v3/account"
    )
    code, out, err, url = live_cli(tmp_path, tls_venue, "blind", wait_bars=None)
    assert code == 2, (out, err)
    assert "cannot report the account's balances" in err and "Traceback" not in err
    assert "starting" not in out and tls_venue["sim"].orders == {}
    with Ledger(url) as led:
        assert led.session("blind") is None


def test_live_refuses_cash_from_the_command_line(tmp_path, tls_venue) -> None:
    code, _, err, _ = live_cli(tmp_path, tls_venue, "typed", "--cash", "1e9", wait_bars=None)
    assert code == 2 and "invalid --cash=" in err and "sizes from the account" in err
    assert tls_venue["sim"].orders == {}


def test_live_stop_policy_sends_binance_stops_and_books_their_fills(tmp_path, tls_venue) -> None:
    """`nzeza live --order-type stop` over the loopback Binance: each decision is one STOP_LOSS
    at the venue with its trigger as stopPrice (no price: a market order on trigger, not a
    plain order that trades at once). The market trades through each stop just before the
    session cancels it (its ttl ends, or the next decision replaces it): the venue has filled
    it and refuses the cancel, and the session books that fill once, the order filled (before:
    a stop was refused before anything was sent; then the refused cancel left its fill
    unbooked)."""
    sim = tls_venue["sim"]
    sim.trade("BTCUSDT", "61837.63")  # the simulated market where the captured stream starts
    offset = Decimal("0.002")

    def through(o: dict) -> None:  # the market trades through a stop, then goes back
        if o["status"] != "NEW" or "stopPrice" not in o:
            return
        stop = Decimal(o["stopPrice"])
        sim.trade(o["symbol"], stop)
        close = stop / (1 + offset) if o["side"] == "BUY" else stop / (1 - offset)
        sim.trade(o["symbol"], close.quantize(Decimal("0.01")))

    sim.before_cancel = through
    policy = {"kind": "stop", "offset": float(offset), "ttl": 2}
    args = ("--order-type", "stop", "--offset", str(offset), "--ttl", "2")
    code, _, err, url = live_cli(tmp_path, tls_venue, "stops", *args, orders=policy)
    assert code == 0, err
    sent = list(sim.orders.values())
    assert sent and {o["type"] for o in sent} == {"STOP_LOSS"}
    with Ledger(url) as led:
        intents = {i["client_order_id"]: i for i in led.intents("stops")}
        fills = led.fills("stops")
        orders = led.orders("stops")
        assert led.verify_audit().ok
    # every decision reached the venue (none refused as triggering at once: buy stops above
    # the market, sell stops below), each with the trigger and side the session decided
    assert sorted(intents) == sorted(o["clientOrderId"] for o in sent)
    for o in sent:
        intent = intents[o["clientOrderId"]]
        assert intent["order_type"] == "stop" and o["side"] == intent["side"].upper()
        assert Decimal(o["stopPrice"]) == Decimal(intent["price"]) and Decimal(o["price"]) == 0
    filled = {o["clientOrderId"] for o in sent if o["status"] == "FILLED"}
    assert filled, "the market traded through a stop"
    # every venue trade is booked once, to the stop that made it; each filled stop recorded
    assert sorted(f.trade_id for f in fills) == sorted(str(t["id"]) for t in sim.trades)
    assert {f.order_id for f in fills} == filled
    recorded = {(o["client_order_id"], o["status"]) for o in orders}
    assert {(cid, "filled") for cid in filled} <= recorded
