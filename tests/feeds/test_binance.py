"""Binance parser: each message kind, wrapped and bare, and typed errors."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from nzeza.errors import ParseError
from nzeza.feeds import binance
from nzeza.feeds.events import BestBidAsk, BookDelta, BookSnapshot, SubscriptionAck, Trade

DEPTH = '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"]]}}'  # noqa: E501
TICKER = '{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}'  # noqa: E501
TRADE = '{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}'  # noqa: E501


def test_depth_ticker_trade_snapshot_ack():
    (d,) = binance.parse(DEPTH, 5)
    assert d == BookDelta(
        "binance",
        "BTCUSDT",
        50093239203,
        50093239207,
        ((D("55653.87"), D(0)),),
        ((D("61838.04"), D("0.32332")),),
        1723161255308000000,
        5,
    )
    (t,) = binance.parse(TICKER.encode())
    assert isinstance(t, BestBidAsk) and t.update_id == 50093239212 and t.ask_size == D("1.54698")
    (tr,) = binance.parse(TRADE)
    assert isinstance(tr, Trade) and tr.side == "sell" and tr.ts_ns == 1723161255342000000
    (s,) = binance.parse('{"lastUpdateId":7,"bids":[["1.0","2.0"]],"asks":[]}', symbol="btcusdt")
    assert isinstance(s, BookSnapshot) and s.symbol == "BTCUSDT" and s.update_id == 7
    (a,) = binance.parse('{"result":null,"id":3}')
    assert isinstance(a, SubscriptionAck) and a.request_id == "3"
    bare = TRADE.split('"data":', 1)[1][:-1]
    assert binance.parse(bare) == [tr]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{not json", "message"),
        (TICKER.replace('"61837.63000000"', '"-1"'), "b"),
        (TICKER.replace('"61837.63000000"', '"NaN"'), "b"),
        (TICKER.replace('"61837.63000000"', "61837.63"), "b"),
        (DEPTH.replace('"0.32332000"', '"1e400"'), "a"),
        (DEPTH.replace('["55653.87000000","0.00000000"]', '["55653.87000000"]'), "b"),
        (TRADE.replace('"q":"0.02000000"', '"q":"0x10"'), "q"),
        (DEPTH.replace('"U":50093239203', '"U":60093239203'), "U/u"),
        (TRADE.replace('"e":"trade"', '"e":"kline"'), "e"),
        (TRADE.replace('"T":1723161255342,', ""), "T"),
    ],
)
def test_bad_input_is_a_typed_parse_error(raw, field):
    with pytest.raises(ParseError) as err:
        binance.parse(raw)
    assert err.value.venue == "binance" and err.value.field == field
    assert len(err.value.sample) <= 200


def test_builders():
    streams = binance.stream_names("BTCUSDT")
    assert streams == ["btcusdt@depth@100ms", "btcusdt@bookTicker", "btcusdt@trade"]
    assert binance.subscribe_message(streams, 2) == {
        "method": "SUBSCRIBE",
        "params": streams,
        "id": 2,
    }
    assert (
        binance.depth_snapshot_url("http://h:1/", "btcusdt", 100)
        == "http://h:1/api/v3/depth?symbol=BTCUSDT&limit=100"
    )
