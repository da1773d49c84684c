"""Limit, post-only and stop orders in bars (nzeza.research.orders): every rule on constructed
bars with fills computed by hand, the market policy against the kernel, the accounting against
vectorbt, and invariants of the rule under hypothesis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research.backtest import run_unchecked, simulate_policy
from nzeza.research.orders import OrderPolicy, bar_outcome, policy_of
from nzeza.strategies import REGISTRY

COSTS = Costs(maker=0.0002, taker=0.001, slippage=0.001)
CASH = 10_000.0


class Fixed:
    """Targets given per bar (a test double of a strategy)."""

    def __init__(self, targets, orders=None):
        self.values = list(targets)
        if orders is not None:
            self.orders = orders

    def target(self, bars):
        return pd.Series(self.values, index=bars.index, dtype=float)


def bars_of(rows) -> pd.DataFrame:
    """(open, high, low, close) rows → hourly bars."""
    index = pd.date_range("2024-01-01", periods=len(rows), freq="1h", tz="UTC")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    frame["volume"] = 1.0
    return frame


def run(rows, targets, policy, costs=COSTS):
    return run_unchecked(Fixed(targets), bars_of(rows), costs, CASH, orders=policy)


def only_fill(result) -> dict:
    f = result.simulation.fills
    assert len(f["bar"]) == 1, f
    return {k: v[0] for k, v in f.items()}


def test_buy_limit_inside_the_bar_is_a_maker_fill_at_the_limit() -> None:
    # decided at 100 → limit 99; bar 1 opens above it and trades down to 98.5
    r = run([(100, 101, 99, 100), (100, 100.5, 98.5, 99.5)], [1, 1], OrderPolicy("limit", 0.01))
    f = only_fill(r)
    spend = CASH / 1.0002  # cash-limited: the whole cash pays notional + maker fee
    assert f["bar"] == 1 and f["liquidity"] == "maker" and f["side"] == 0
    assert f["price"] == pytest.approx(99.0, rel=1e-15)  # no slippage on a maker fill
    assert f["size"] == pytest.approx(spend / 99, rel=1e-12)
    assert f["fees"] == pytest.approx(CASH - spend, rel=1e-9)
    assert r.orders.loc[0, "status"] == "filled"


def test_buy_limit_at_the_open_is_a_taker_with_slippage_capped_at_the_limit() -> None:
    r = run([(100, 101, 99, 100), (98.9, 99.5, 98, 99)], [1, 1], OrderPolicy("limit", 0.01))
    f = only_fill(r)
    assert f["liquidity"] == "taker" and f["price"] == pytest.approx(98.9 * 1.001)
    assert f["fees"] == pytest.approx(f["size"] * f["price"] * 0.001)
    # an open just under the limit: slippage would pass the limit, the fill stops at it
    r = run([(100, 101, 99, 100), (98.95, 99.5, 98, 99)], [1, 1], OrderPolicy("limit", 0.01))
    f = only_fill(r)
    assert f["liquidity"] == "taker" and f["price"] == pytest.approx(99.0, rel=1e-15)


def test_sell_limit_mirrors() -> None:
    # a short from flat: sell limit at 101, the bar trades up to 101.5
    r = run([(100, 101, 99, 100), (100, 101.5, 99.5, 101)], [-1, -1], OrderPolicy("limit", 0.01))
    f = only_fill(r)
    assert f["side"] == 1 and f["liquidity"] == "maker"
    assert f["price"] == pytest.approx(101.0) and f["size"] == pytest.approx(CASH / 101)
    assert f["fees"] == pytest.approx(CASH * 0.0002)
    # opened above the limit: a taker at open × (1 − slippage), never below the limit
    r = run([(100, 101, 99, 100), (102, 103, 101.5, 102)], [-1, -1], OrderPolicy("limit", 0.01))
    f = only_fill(r)
    assert f["liquidity"] == "taker" and f["price"] == pytest.approx(102 * 0.999)


def test_post_only_is_refused_when_it_would_cross_at_placement() -> None:
    r = run([(100, 101, 99, 100), (98.9, 99.5, 98, 99)], [1, 1], OrderPolicy("post_only", 0.01))
    assert len(r.simulation.fills["bar"]) == 0
    assert list(r.orders["status"]) == ["rejected"] and r.orders.loc[0, "bar"] == 1
    assert r.equity.iloc[-1] == CASH  # nothing traded
    assert r.stats["exposure"] == 0.0  # the target was long; the account never was
    # at the limit exactly: it would still cross (a buy at 99 against an open of 99)
    r = run([(100, 101, 99, 100), (99, 99.5, 98, 99)], [1, 1], OrderPolicy("post_only", 0.01))
    assert list(r.orders["status"]) == ["rejected"]


def test_post_only_fills_only_when_the_market_trades_through() -> None:
    rows = [(100, 101, 99, 100), (100, 100.5, 99, 99.5), (99.5, 99.6, 98.99, 99.2)]
    r = run(rows, [1, 1, 1], OrderPolicy("post_only", 0.01, ttl=2))
    f = only_fill(r)
    # bar 1 only touched 99 (low = limit): no fill; bar 2 traded below it: maker at 99
    assert f["bar"] == 2 and f["liquidity"] == "maker" and f["price"] == pytest.approx(99.0)
    assert r.stats["exposure"] == pytest.approx(1 / 3)  # in a position from bar 2's close
    assert f["fees"] == pytest.approx(CASH - CASH / 1.0002)


def test_stops_trigger_on_the_range_and_fill_as_takers() -> None:
    r = run([(100, 101, 99, 100), (100, 101, 99.5, 100.5)], [1, 1], OrderPolicy("stop", 0.01))
    f = only_fill(r)
    assert f["liquidity"] == "taker" and f["price"] == pytest.approx(101 * 1.001)
    # a gap through the stop fills at the open
    r = run([(100, 101, 99, 100), (102, 103, 101.5, 102)], [1, 1], OrderPolicy("stop", 0.01))
    assert only_fill(r)["price"] == pytest.approx(102 * 1.001)
    # not reached: no fill, expired after its ttl
    r = run([(100, 101, 99, 100), (100, 100.9, 99.5, 100.5)], [1, 1], OrderPolicy("stop", 0.01))
    assert len(r.simulation.fills["bar"]) == 0 and list(r.orders["status"]) == ["expired"]
    # a sell stop at 99
    r = run([(100, 101, 99, 100), (100, 100.5, 98.0, 98.5)], [-1, -1], OrderPolicy("stop", 0.01))
    f = only_fill(r)
    assert f["side"] == 1 and f["price"] == pytest.approx(99 * 0.999)
    assert f["size"] == pytest.approx(CASH / 99)  # sized at the stop (un-slipped)


def test_ttl_expiry_and_replacement() -> None:
    rows = [(100, 101, 99, 100), (100, 100.5, 99.5, 100), (100, 100.5, 99.5, 100)]
    rows += [(100, 100.5, 98, 99)]
    r = run(rows, [1, 1, 1, 1], OrderPolicy("limit", 0.01, ttl=2))
    assert len(r.simulation.fills["bar"]) == 0  # bar 3 reaches 99, one bar too late
    assert list(r.orders["status"]) == ["expired"] and r.orders.loc[0, "bar"] == 2
    # a new decision before the fill replaces the working order
    r = run(rows, [1, 0.5, 0.5, 0.5], OrderPolicy("limit", 0.01, ttl=5))
    assert list(r.orders["status"]) == ["cancelled", "filled"]
    f = only_fill(r)
    assert f["bar"] == 3 and f["size"] == pytest.approx(0.5 * CASH / 99)


def test_policy_sources_and_typed_errors() -> None:
    assert policy_of(Fixed([0]), None).is_market
    own = OrderPolicy("limit", 0.001, 3)
    assert policy_of(Fixed([0], orders=own), None) is own
    assert policy_of(Fixed([0], orders=own), OrderPolicy()).is_market  # the caller wins
    for kw, field in [
        ({"kind": "iceberg"}, "order_type"),
        ({"offset": -0.001}, "offset"),
        ({"offset": float("nan")}, "offset"),
        ({"offset": 0.9}, "offset"),
        ({"ttl": 0}, "ttl"),
        ({"ttl": 1.5}, "ttl"),
        ({"ttl": True}, "ttl"),
    ]:
        with pytest.raises(ValidationError) as err:
            OrderPolicy(**kw)
        assert err.value.field == field
    with pytest.raises(ValidationError):
        policy_of(Fixed([0], orders="limit"), None)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_order_simulator_at_market_is_the_kernel(name) -> None:
    """The order-level simulator given market orders fills what the kernel (bit for bit
    vectorbt's) fills, so its sizing and accounting are the backtest's."""
    bars = load_sample("btc_usd_1h").iloc[-2000:]
    kernel = run_unchecked(REGISTRY[name](), bars, COSTS, CASH)
    targets = np.asarray(kernel.targets, dtype=np.float64)
    orders = simulate_policy(targets, bars, COSTS, CASH, OrderPolicy("market"))
    for key in ("bar", "side"):
        assert np.array_equal(orders.fills[key], kernel.simulation.fills[key])
    for key in ("size", "price", "fees"):
        np.testing.assert_allclose(orders.fills[key], kernel.simulation.fills[key], rtol=1e-9)
    np.testing.assert_allclose(orders.equity, kernel.simulation.equity, rtol=1e-9)
    # and an explicit market policy is the backtest of today, exactly
    same = run_unchecked(REGISTRY[name](), bars, COSTS, CASH, orders=OrderPolicy())
    assert np.array_equal(same.equity.to_numpy(), kernel.equity.to_numpy())
    pd.testing.assert_frame_equal(same.trades, kernel.trades)


def test_limit_fills_account_like_vectorbt() -> None:
    bars = load_sample("btc_usd_1h").iloc[-1500:]
    r = run_unchecked(
        REGISTRY["sma_cross"](), bars, COSTS, CASH, orders=OrderPolicy("limit", 0.001, 2)
    )
    assert set(r.orders["liquidity"].dropna()) == {"maker", "taker"}
    pf = r.portfolio  # the run's fills replayed through vectorbt
    np.testing.assert_allclose(pf.value().to_numpy(), r.equity.to_numpy(), rtol=1e-9)
    assert len(pf.trades.records) == len(r.trades)


PRICE = st.floats(50, 150)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["limit", "post_only", "stop"]),
    side=st.sampled_from(["buy", "sell"]),
    price=PRICE,
    o=PRICE,
    a=PRICE,
    b=PRICE,
    first=st.booleans(),
    slippage=st.floats(0, 0.01),
)
def test_the_rule_never_fills_worse_than_its_price(kind, side, price, o, a, b, first, slippage):
    high, low = max(o, a, b), min(o, a, b)
    out = bar_outcome(kind, side, price, o, high, low, first, slippage)
    if out.status != "fill":
        if kind == "limit":  # a limit the bar reached always fills
            assert (low > price) if side == "buy" else (high < price)
        return
    buy = side == "buy"
    if kind != "post_only":
        assert low <= out.reference <= high  # it traded there
    # (a resting post-only order the bars gapped through fills at its own limit: the first
    # trade through it took it there, whatever the next bar's range)
    if kind == "limit":
        assert out.price <= price if buy else out.price >= price
    if kind == "stop":
        assert out.price >= price if buy else out.price <= price
        assert out.liquidity == "taker"
    if kind == "post_only":
        assert out.liquidity == "maker"
        assert not (first and (price >= o if buy else price <= o))
    if out.liquidity == "maker":  # maker fills never pay slippage
        assert out.price == price == out.reference


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["limit", "post_only", "stop"]),
    offset=st.floats(0, 0.02),
    ttl=st.integers(1, 4),
    seed=st.integers(0, 2**31),
)
def test_backtests_keep_the_rule_per_fill(kind, offset, ttl, seed):
    rng = np.random.default_rng(seed)
    n = 60
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100, close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    targets = rng.choice([-1, -0.5, 0, 0.5, 1], n)
    r = run(
        list(zip(open_, high, low, close, strict=True)), targets, OrderPolicy(kind, offset, ttl)
    )
    filled = r.orders[r.orders["status"] == "filled"]
    buy = filled["side"] == "buy"
    maker = filled["liquidity"] == "maker"
    rates = filled["fee"] / (filled["size"] * filled["fill_price"])
    np.testing.assert_allclose(rates[maker], COSTS.maker, rtol=1e-9)
    np.testing.assert_allclose(rates[~maker], COSTS.taker, rtol=1e-9)
    assert (filled.loc[maker, "fill_price"] == filled.loc[maker, "price"]).all()
    if kind == "limit":
        assert (filled.loc[buy, "fill_price"] <= filled.loc[buy, "price"]).all()
        assert (filled.loc[~buy, "fill_price"] >= filled.loc[~buy, "price"]).all()
    if kind == "post_only":
        assert maker.all()
    assert (filled["bar"] - filled["decided_bar"]).between(1, ttl).all()
    assert np.isfinite(r.equity).all()


def test_a_sweep_refuses_an_order_policy_that_is_not_one() -> None:
    """A sweep runs a strategy's own policy (tests/research/test_sweep_orders.py); anything
    else given as `orders` is refused, named."""
    from nzeza.research import sweep

    class Bad(REGISTRY["sma_cross"]):
        orders = "post_only"

    bars = load_sample("btc_usd_1h").iloc[-500:]
    grid = {"fast": [5, 10], "slow": [30]}
    with pytest.raises(ValidationError) as err:
        sweep(Bad, bars, grid, register=False, progress=False)
    assert err.value.field == "orders" and err.value.value == "post_only"
    with pytest.raises(ValidationError) as err:
        sweep(REGISTRY["sma_cross"], bars, grid, register=False, progress=False, orders="limit")
    assert err.value.field == "orders"
