"""Live funding: `FundingUpdate` from Binance USDⓈ-M `markPriceUpdate`, Hyperliquid
`activeAssetCtx` and dYdX v4 `v4_markets`, parsed from fixtures in the venues' documented shapes
(each fixture file says where its shape comes from), and carried over a loopback websocket."""

from __future__ import annotations

import asyncio
import random
import threading
from decimal import Decimal as D
from pathlib import Path

import pandas as pd
import pytest
from feeds._fixtures import fixture_lines

from nzeza.cli import main
from nzeza.errors import ParseError, ValidationError
from nzeza.feeds import binance, dydx, hyperliquid
from nzeza.feeds.capture import event_summary
from nzeza.feeds.connection import Backoff, FeedConnection
from nzeza.feeds.events import FundingUpdate, SubscriptionAck
from nzeza.feeds.replay import ReplayServer
from nzeza.feeds.streams import funding_stream

BINANCE = fixture_lines("binance_usdm_mark_price.jsonl")
HYPER = fixture_lines("hyperliquid_active_asset_ctx.jsonl")
DYDX = fixture_lines("dydx_v4_markets.jsonl")
MS = 1_000_000
NEXT = 1562306400000 * MS  # Binance's T: 2019-07-05 06:00 UTC, the coming funding time


def _ns(iso: str) -> int:
    return int(pd.Timestamp(iso).value)


# -- Binance USDⓈ-M ---------------------------------------------------------------------------
def test_binance_mark_price_updates() -> None:
    got = [binance.parse(line, 7) for line in BINANCE]
    assert got[0] == [
        FundingUpdate(
            "binance", "BTCUSDT", D("0.00038167"), D("11794.15"), NEXT, 1562305380000 * MS, 7
        )
    ]
    assert got[1][0].funding_rate == D("-0.000125") and got[1][0].mark == D("11795.02")
    assert got[2][0].funding_rate == D("0.0001") and got[2][0].ts_ns == 1562305382000 * MS
    assert [(e.symbol, e.funding_rate, e.mark) for e in got[3]] == [
        ("BTCUSDT", D("0.0003"), D("11185.87786614")),
        ("ETHUSDT", D("-0.000025"), D("290.11")),
    ]
    assert got[4] == []  # a delivery contract: "r":"" and "T":0, no funding
    # the fast path and the reference parser agree on every line
    assert got == [binance.parse_checked(line, 7) for line in BINANCE]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("r", '"0.0001x"'),
        ("r", '"--0.1"'),
        ("r", "0.0001"),  # a JSON number: Binance sends text
        ("p", '"0"'),
        ("p", '"-1"'),
        ("T", "-5"),
        ("T", '"1562306400000"'),
        ("E", '"x"'),
        ("s", '""'),
    ],
)
def test_binance_bad_mark_price_fields_name_the_field(field: str, value: str) -> None:
    fields = {
        "e": '"markPriceUpdate"',
        "E": "1562305380000",
        "s": '"BTCUSDT"',
        "p": '"11794.15"',
        "r": '"0.0001"',
        "T": "1562306400000",
    }
    fields[field] = value
    raw = "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"
    with pytest.raises(ParseError) as err:
        binance.parse(raw)
    assert err.value.field == field


# -- Hyperliquid ------------------------------------------------------------------------------
def test_hyperliquid_active_asset_ctx() -> None:
    events = [ev for line in HYPER for ev in hyperliquid.parse(line, 11)]
    assert events[0] == SubscriptionAck("hyperliquid", "activeAssetCtx", ("BTC",), True, "", 11)
    assert events[1:] == [
        FundingUpdate("hyperliquid", "BTC", D("0.0000125"), D("105055.0"), None, None, 11),
        FundingUpdate("hyperliquid", "BTC", D("-0.0000031416"), D("105049.0"), None, None, 11),
    ]
    assert hyperliquid.subscribe_message("activeAssetCtx", "BTC") == {
        "method": "subscribe",
        "subscription": {"type": "activeAssetCtx", "coin": "BTC"},
    }


@pytest.mark.parametrize(
    ("ctx", "field"),
    [
        ('{"funding":"NaN","markPx":"1.0"}', "funding"),
        ('{"funding":1e-5,"markPx":"1.0"}', "funding"),
        ('{"funding":"0.00001"}', "markPx"),
        ('{"funding":"0.00001","markPx":"0"}', "markPx"),
        ('"BTC"', "ctx"),
    ],
)
def test_hyperliquid_bad_ctx_names_the_field(ctx: str, field: str) -> None:
    with pytest.raises(ParseError) as err:
        hyperliquid.parse('{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":' + ctx + "}}")
    assert err.value.field == field


# -- dYdX v4 ----------------------------------------------------------------------------------
def test_dydx_v4_markets_stateless_parse_gives_what_each_message_holds() -> None:
    first = dydx.parse(DYDX[1], 3)
    assert first == [
        SubscriptionAck("dydx", "v4_markets", (), True, "", 3),
        FundingUpdate("dydx", "BTC-USD", D("0"), D("27752.92"), None, None, 3),
        FundingUpdate("dydx", "ETH-USD", D("0"), D("1808.2"), None, None, 3),
    ]
    assert dydx.parse(DYDX[2]) == [
        FundingUpdate("dydx", "BTC-USD", D("0.00006821875")),
        FundingUpdate("dydx", "ETH-USD", D("0.00007478125")),
    ]
    assert dydx.parse(DYDX[3]) == []  # an oracle price alone: no rate known to this call
    assert dydx.parse(DYDX[4]) == [FundingUpdate("dydx", "BTC-USD", D("-0.0000125"))]


def test_dydx_parser_carries_the_last_rate_and_oracle_price() -> None:
    parser = dydx.DydxParser()
    out = [[e for e in parser.parse(line) if type(e) is FundingUpdate] for line in DYDX]
    assert out[0] == [] and len(out[1]) == 2
    assert out[2] == [
        FundingUpdate("dydx", "BTC-USD", D("0.00006821875"), D("27752.92")),
        FundingUpdate("dydx", "ETH-USD", D("0.00007478125"), D("1808.2")),
    ]
    btc_at = _ns("2023-04-04T19:09:24.869Z")
    assert out[3] == [
        FundingUpdate("dydx", "BTC-USD", D("0.00006821875"), D("27801.5"), None, btc_at)
    ]
    assert out[4] == [
        FundingUpdate("dydx", "BTC-USD", D("-0.0000125"), D("27801.5")),
        FundingUpdate(
            "dydx", "ETH-USD", D("0.00007478125"), D("1810.35"), None, btc_at + 1_000_000_000
        ),
    ]
    assert dydx.subscribe_message("v4_markets") == {"type": "subscribe", "channel": "v4_markets"}
    with pytest.raises(ValidationError):
        dydx.subscribe_message("v4_trades")


def test_dydx_bad_markets_messages_name_the_field() -> None:
    bad_rate = DYDX[2].replace('"0.00006821875"', '"fast"')
    with pytest.raises(ParseError) as err:
        dydx.parse(bad_rate)
    assert err.value.field == "nextFundingRate"
    bad_oracle = DYDX[3].replace('"27801.5"', '"-27801.5"')
    with pytest.raises(ParseError) as err:
        dydx.parse(bad_oracle)
    assert err.value.field == "price"
    with pytest.raises(ParseError) as err:
        dydx.parse(DYDX[1].replace('"markets":{', '"markets":{"X":3,'))
    assert err.value.field == "markets"


# -- subscriptions ----------------------------------------------------------------------------
def test_funding_streams_subscribe_the_funding_channels() -> None:
    b = funding_stream("binance", "wss://fstream.binance.com", "BTC/USDT:USDT")
    assert b.url == "wss://fstream.binance.com/stream?streams=btcusdt@markPrice@1s"
    h = funding_stream("hyperliquid", hyperliquid.WS_URL, "BTC/USDC:USDC")
    assert h.subscriptions == (
        {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}},
    )
    assert h.heartbeat_message == {"method": "ping"}
    d = funding_stream("dydx", dydx.WS_URL, "BTC-USD")
    assert d.subscriptions == ({"type": "subscribe", "channel": "v4_markets"},)
    # each funding stream's parser reads its venue's funding messages
    parse, _reset = d.parser()
    assert any(type(e) is FundingUpdate for e in parse(DYDX[1]))
    with pytest.raises(ValidationError) as err:
        funding_stream("kraken", "wss://x", "BTC/USD")
    assert err.value.field == "venue"


# -- over a loopback websocket ----------------------------------------------------------------
def _capture(tmp_path: Path, lines: list[str], name: str) -> Path:
    path = tmp_path / name
    path.write_text(
        "".join(f"{1_700_000_000_000_000_000 + i} {ln}\n" for i, ln in enumerate(lines))
    )
    return path


def test_binance_funding_over_a_loopback_websocket(tmp_path: Path) -> None:
    capture = _capture(tmp_path, BINANCE, "usdm.jsonl")
    got: list[FundingUpdate] = []

    async def run() -> None:
        async with ReplayServer([capture]) as server:
            conn = FeedConnection(
                server.url + "?close_at_end=1",
                venue="binance",
                parse=binance.parse,
                subscriptions=[binance.subscribe_message(["btcusdt@markPrice@1s"])],
                on_event=lambda ev: got.append(ev) if type(ev) is FundingUpdate else None,
                ping_interval_s=None,
                end_on_normal_close=True,
                backoff=Backoff(base_s=0.01, cap_s=0.05, rng=random.Random(1)),
            )
            await asyncio.wait_for(conn.run(), 20)
            assert server.subscriptions_log == [frozenset({"btcusdt@markPrice@1s"})]

    asyncio.run(run())
    # the subscribed stream (lines 1-2) and the raw line 3; not the all-market or delivery ones
    assert [(e.symbol, e.funding_rate) for e in got] == [
        ("BTCUSDT", D("0.00038167")),
        ("BTCUSDT", D("-0.000125")),
        ("BTCUSDT", D("0.0001")),
    ]
    assert all(e.next_funding_ns == NEXT and e.recv_ns is not None for e in got)


def test_record_subscribes_funding_and_shows_it(tmp_path: Path, capsys) -> None:
    capture = _capture(tmp_path, HYPER, "hl.jsonl")
    ready = threading.Event()
    stop: dict[str, object] = {}

    def serve() -> None:
        async def main_() -> None:
            async with ReplayServer([capture]) as server:
                stop["url"], stop["server"] = f"ws://127.0.0.1:{server.port}/ws", server
                stop["done"] = done = asyncio.Event()
                stop["loop"] = asyncio.get_running_loop()
                ready.set()
                await done.wait()

        asyncio.run(main_())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    out = tmp_path / "rec.jsonl"
    try:
        argv = ["feed", "record", str(stop["url"]), "--venue", "hyperliquid", "--symbol", "BTC"]
        rc = main([*argv, "--funding", "--out", str(out), "--max-messages", "3"])
    finally:
        loop = stop["loop"]
        loop.call_soon_threadsafe(stop["done"].set)  # type: ignore[attr-defined]
        thread.join(10)
    text = capsys.readouterr().out
    assert rc == 0 and "recorded 3 messages" in text
    assert "FundingUpdate 2" in text and "SubscriptionAck 1" in text
    assert "funding BTC: rate -0.0000031416 mark 105049.0" in text
    summary = event_summary([out], "hyperliquid")
    assert summary.funding["BTC"].funding_rate == D("-0.0000031416") and summary.unparsed == 0
    assert main(["feed", "record", "ws://127.0.0.1:1", "--funding", "--out", str(out)]) == 2
    assert "--funding" in capsys.readouterr().err


def test_event_summary_of_a_capture_shows_the_last_funding(tmp_path: Path) -> None:
    summary = event_summary([_capture(tmp_path, BINANCE, "usdm.jsonl")])  # venue sniffed
    assert summary.venue == "binance" and summary.counts == {"FundingUpdate": 5}
    text = str(summary)
    assert "funding BTCUSDT: rate 0.00030000 mark 11185.87786614" in text
    assert "funding ETHUSDT: rate -0.00002500" in text and "next funding 2019-07-05 06:00Z" in text
