"""`nzeza live PORTFOLIO_STRATEGY --symbol BTC/USDT,ETH/USDT` (issue 17): a live portfolio session
with every gate in place trades both symbols on the Binance simulator over TLS from the venue's
own trade stream (both symbols' captures replayed on loopback); a run its live promotion does
not bind — a symbol added at live time, a portfolio limit loosened — is refused before anything
is built, naming the differing field."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine.test_live_session import LoopThread, make_tls_files, tls_proxy
from support.promotions import grant_live
from support.sim.binance import BinanceSim

from nzeza.feeds.capture import bundled
from nzeza.ops.settings import LIVE_CONFIRMATION
from nzeza.store import Ledger

ROOT = Path(__file__).resolve().parents[2]
KEY = "L" * 32 + "k" * 32
SECRET = "T" * 30 + "s" * 34
CAPTURES = ["binance_spot_btcusdt_20240808.jsonl.gz", "binance_spot_ethusdt_20240808.jsonl.gz"]
PARAMS = ["lookback=6", "rebalance=1", "absolute=false"]
SYMBOLS = "BTC/USDT,ETH/USDT"
WAIT_BARS = 40


def venue_stream(files: list[Path]):
    """A replay server that streams to every connection at once, as a venue does: each
    connection (one per symbol) gets its own cursor on the tape (the replay server's `from_ns`),
    where the plain server lets one connection at a time stream its shared tape."""
    from nzeza.feeds.replay import ReplayServer

    class VenueStream(ReplayServer):
        async def _handler(self, ws):  # type: ignore[override]
            path = ws.request.path
            ws.request.path = path + ("&" if "?" in path else "?") + "from_ns=0"
            return await super()._handler(ws)

    return VenueStream(files, speed=None)


@pytest.fixture
def tls_portfolio_venue(tmp_path, monkeypatch):
    """The Binance REST simulator and a replay server of both captures (Binance's combined
    stream), each behind TLS on loopback. The simulator quotes both symbols inside the range
    the captures trade in (its defaults are far from them: a fill 10 % off the market reads as
    a loss and trips the daily-loss breaker)."""
    import support.sim.binance as binance_sim

    monkeypatch.setitem(
        binance_sim.SYMBOLS,
        "BTCUSDT",
        ("BTC", "USDT", "0.01", "0.00001", "5", "61700.00", "61700.01"),
    )
    monkeypatch.setitem(
        binance_sim.SYMBOLS, "ETHUSDT", ("ETH", "USDT", "0.01", "0.0001", "5", "2682.00", "2682.01")
    )
    ca_file, cert_file, key_file = make_tls_files(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    loops = LoopThread()
    stream = venue_stream([bundled(f) for f in CAPTURES])
    loops.call(stream.start())
    sim = BinanceSim()
    rest_plain = loops.call(sim.start())
    rest_proxy = loops.call(tls_proxy(int(rest_plain.rsplit(":", 1)[1]), server_ctx))
    ws_proxy = loops.call(tls_proxy(stream.port, server_ctx))
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
    loops.call(stream.stop())
    loops.close()


def live(tmp: Path, venue: dict, sid: str, *args: str, wait_bars: int | None = None, **env_extra):
    """`nzeza live cross_sectional_momentum` against the TLS venue; with `wait_bars`, SIGTERM
    once that many bars are in the ledger. Returns (returncode, stdout, stderr)."""
    url = f"sqlite:///{tmp / 'ledger.sqlite'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
        NZEZA_LIVE_VENUE="binance",
        NZEZA_BINANCE__API_KEY=KEY,
        NZEZA_BINANCE__API_SECRET=SECRET,
        NZEZA_BINANCE__REST_URL=venue["rest_url"],
        NZEZA_BINANCE__WS_URL=venue["ws_url"],
        NZEZA_CA_FILE=str(venue["ca_file"]),
        NZEZA_RUNS_DIR=str(tmp / "runs"),
        **env_extra,
    )
    cmd = [sys.executable, "-m", "nzeza.cli", "live", "cross_sectional_momentum", "--symbol"]
    cmd += [*args[:1], "--params", *PARAMS, "--timeframe", "5s", "--session-id", sid]
    cmd += ["--ledger", url, "--confirm", LIVE_CONFIRMATION, *args[1:]]
    # a resumed session finds the first run's bars in the ledger: it is stopped only once it has
    # written one of its own (its signal handlers are in place by then; a SIGTERM during start-up
    # would kill it, -15, instead of stopping it)
    baseline = 0
    if wait_bars is not None:
        with Ledger(url) as led:
            if led.session(sid) is not None:
                baseline = len(led.equity_curve(sid))
    wait_bars = None if wait_bars is None else max(wait_bars, baseline + 1)
    proc = subprocess.Popen(
        cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        if wait_bars is not None:
            deadline = time.monotonic() + 180  # a bound on waiting, not a timing assertion
            bars = 0
            while bars < wait_bars and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.25)
                with Ledger(url) as led:
                    if led.session(sid) is not None:
                        bars = len(led.equity_curve(sid))
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_a_live_portfolio_session_trades_every_symbol_on_the_venue(
    tmp_path, tls_portfolio_venue
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    grant_live(url, "cross_sectional_momentum", PARAMS, symbol=SYMBOLS, timeframe="5s")
    code, out, err = live(tmp_path, tls_portfolio_venue, "lp", SYMBOLS, wait_bars=WAIT_BARS)
    assert code == 0, err[-3000:]
    assert "starting live portfolio session lp" in out and "signal SIGTERM" in out
    assert SECRET not in out + err and KEY not in out + err
    sim = tls_portfolio_venue["sim"]
    with Ledger(url) as led:
        row = led.session("lp")
        fills = led.fills("lp")
        intents = led.intents("lp")
        assert led.verify_audit().ok
        balances = led.balances("lp")
    assert (row["mode"], row["venue"], row["status"]) == ("live", "binance", "stopped")
    assert len(intents) > 3
    # both symbols traded on the venue, every order once by its client id, every trade booked
    assert {f.instrument_id for f in fills} == {"binance:BTC/USDT", "binance:ETH/USDT"}
    sent = [o["clientOrderId"] for o in sim.orders.values()]
    assert sorted(sent) == sorted(i["client_order_id"] for i in intents)
    assert len(set(sent)) == len(sent)
    assert sorted(f.trade_id for f in fills) == sorted(str(t["id"]) for t in sim.trades)
    assert set(balances) == {"USDT"}  # one cash balance: half of the account's free USDT
    assert [(o["side"], o["quantity"]) for o in sim.refused] == []


def test_a_stopped_live_portfolio_session_resumes_from_its_ledger(
    tmp_path, tls_portfolio_venue
) -> None:
    """Stopped and started again with the same id: it resumes (the account now holds what the
    first run bought: its starting cash stays the recorded one), sends no order twice, and the
    ledger still matches the venue."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    grant_live(url, "cross_sectional_momentum", PARAMS, symbol=SYMBOLS, timeframe="5s")
    code, _, err = live(tmp_path, tls_portfolio_venue, "lr", SYMBOLS, wait_bars=15)
    assert code == 0, err[-3000:]
    with Ledger(url) as led:
        start = led.session("lr")["initial_balances"]
        before = len(led.intents("lr"))
    assert before > 0
    code, out, err = live(tmp_path, tls_portfolio_venue, "lr", SYMBOLS, wait_bars=WAIT_BARS)
    assert code == 0, err[-3000:]
    assert "resuming live portfolio session lr" in out
    sim = tls_portfolio_venue["sim"]
    with Ledger(url) as led:
        intents = led.intents("lr")
        fills = led.fills("lr")
        assert led.session("lr")["initial_balances"] == start
        assert led.verify_audit().ok
    assert len(intents) > before
    sent = [o["clientOrderId"] for o in sim.orders.values()]
    assert len(sent) == len(set(sent))
    assert sorted(sent) == sorted(i["client_order_id"] for i in intents if i["status"] == "done")
    assert sorted(f.trade_id for f in fills) == sorted(str(t["id"]) for t in sim.trades)


@pytest.mark.parametrize(
    ("symbols", "env", "named"),
    [
        (
            "BTC/USDT,ETH/USDT,LTC/USDT",
            {},
            "symbol: promoted BTC/USDT,ETH/USDT, now BTC/USDT,ETH/USDT,LTC/USDT",
        ),
        ("ETH/USDT,BTC/USDT", {}, "symbol: promoted BTC/USDT,ETH/USDT, now ETH/USDT,BTC/USDT"),
        (
            SYMBOLS,
            {"NZEZA_RISK__MAX_GROSS_EXPOSURE": "300%"},
            "risk.max_gross_exposure: promoted 150%, now 300%",
        ),
        (
            SYMBOLS,
            {"NZEZA_RISK__MAX_OPEN_POSITIONS": "2"},
            "risk.max_open_positions: promoted 1, now 2",
        ),
    ],
)
def test_a_run_the_promotion_does_not_bind_is_refused_naming_the_field(
    tmp_path, tls_portfolio_venue, symbols, env, named
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    grant_live(url, "cross_sectional_momentum", PARAMS, symbol=SYMBOLS, timeframe="5s")
    code, _, err = live(tmp_path, tls_portfolio_venue, "bad", symbols, **env)
    assert code != 0 and "Traceback" not in err
    assert named in err, err[-2000:]
    assert tls_portfolio_venue["sim"].orders == {}  # nothing sent
    with Ledger(url) as led:
        assert led.session("bad") is None  # nothing built


def test_live_promotion_of_a_portfolio_binds_every_traded_symbol(tmp_path) -> None:
    """`promote --to live` of a portfolio binds the symbols the live session trades (in order)
    and runs the paper gate; one symbol is refused with the field named."""
    from nzeza.data import load_sample
    from nzeza.errors import ValidationError
    from nzeza.promotion.gates import promote

    panel = load_sample("bitstamp_1d").iloc[-120:]
    params = {"lookback": 20, "top": 1, "rebalance": 1}
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        decision = promote(
            "notebooks/08_portfolio.ipynb", "live", strategy="cross_sectional_momentum",
            params=params, ledger=ledger, bars=panel, venue="binance",
            symbol="BTCUSDT,ETHUSDT",
        )  # fmt: skip
        gates = {g.name: (g.passed, g.detail) for g in decision.gates}
        assert decision.binding["symbol"] == SYMBOLS and decision.binding["venue"] == "binance"
        assert decision.binding["gate_data"]  # the panel the gates ran on
        assert not gates["paper"][0] and "no paper session" in gates["paper"][1]
        assert not decision.passed
        with pytest.raises(ValidationError) as exc:
            promote(
                "notebooks/08_portfolio.ipynb", "live", strategy="cross_sectional_momentum",
                params=params, ledger=ledger, bars=panel, venue="binance", symbol="BTCUSDT",
            )  # fmt: skip
    assert exc.value.field == "symbol" and "every symbol" in exc.value.reason
