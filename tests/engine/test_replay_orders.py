"""Replay fills limit, post-only and stop orders by the backtest's bar rule: trade for trade
the same as the research backtest on a bundled sample slice, with maker and taker fees per
fill, and the orders recorded in the ledger with their type and price."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine import replay
from nzeza.engine.parity import compare
from nzeza.research import backtest
from nzeza.research.orders import OrderPolicy
from nzeza.store import Ledger
from nzeza.strategies import REGISTRY

COSTS = Costs(maker=0.0002, taker=0.0005, slippage=0.0005)
BARS = load_sample("btc_usd_1h").iloc[-1500:]
POLICIES = [OrderPolicy("limit", 0.001, 2), OrderPolicy("post_only", 0.0005, 3)]


@pytest.mark.parametrize("policy", [*POLICIES, OrderPolicy("stop", 0.001, 1)], ids=str)
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_replay_equals_backtest_with_orders(name, policy) -> None:
    report = compare(REGISTRY[name](), BARS, COSTS, 10_000, orders=policy)
    assert report.ok, str(report)
    assert report.research_trades == report.engine_trades > 0


@pytest.mark.parametrize("policy", POLICIES, ids=str)
def test_the_same_orders_meet_the_same_outcomes(policy) -> None:
    strategy = REGISTRY["rsi_reversion"]()
    with pytest.warns(UserWarning, match="not registered"):
        research = backtest(strategy, BARS, COSTS, register=False, orders=policy)
    engine = replay(strategy, BARS, COSTS, orders=policy)
    r = research.orders
    assert [o["status"] for o in engine.orders] == list(r["status"])
    assert [o["bar"] for o in engine.orders] == list(r["bar"])
    assert [o["side"] for o in engine.orders] == list(r["side"])
    if policy.kind == "post_only":
        assert "rejected" in set(r["status"])  # the rule was exercised, not only the fills
    # maker vs taker per fill: the fee is the rate of the fill's liquidity, never one rate
    rates = {f.liquidity: f.fee / (f.quantity * f.price) for f in engine.fills}
    assert rates["maker"] == Decimal("0.0002")
    if policy.kind == "limit":
        assert rates["taker"] == Decimal("0.0005")
    else:
        assert set(rates) == {"maker"}  # post-only never takes


def test_a_market_replay_is_unchanged_by_the_order_machinery() -> None:
    strategy = REGISTRY["sma_cross"]()
    plain = replay(strategy, BARS, Costs(0.001, 0.0005), session_id="s")
    explicit = replay(strategy, BARS, Costs(0.001, 0.0005), session_id="s", orders=OrderPolicy())
    assert plain.fills == explicit.fills and not explicit.orders
    assert all(f.liquidity is None for f in plain.fills)  # market fills as before


def test_orders_are_recorded_with_their_type_and_price(tmp_path) -> None:
    strategy = REGISTRY["sma_cross"]()
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        result = replay(
            strategy,
            BARS.iloc[-600:],
            COSTS,
            ledger=ledger,
            orders=OrderPolicy("post_only", 0.0005, 3),
        )
        rows = ledger.orders(result.session_id)
        intents = ledger.intents(result.session_id)
        fills = ledger.fills(result.session_id)
    assert rows and {r["order_type"] for r in rows} == {"limit"}
    assert all(Decimal(r["price"]) > 0 for r in rows)
    assert {i["order_type"] for i in intents} == {"post_only"}  # the journal says post-only
    assert [f.fee for f in fills] == [f.fee for f in result.fills]


def test_a_session_takes_the_strategy_own_policy_and_records_it() -> None:
    """A session places the orders research judged (tests/engine/test_session_orders.py):
    the strategy's own policy unless the config gives one, recorded in the session's record
    (a resume with another policy is refused), a bad one a ValidationError on `orders`."""
    from nzeza.engine.lifecycle import full_record
    from nzeza.engine.runner import session_instrument
    from nzeza.engine.session import SessionConfig
    from nzeza.errors import ValidationError

    class LimitSma(REGISTRY["sma_cross"]):
        orders = OrderPolicy("limit", 0.001, 2)

    args = ("s-1", LimitSma(), "limit_sma", {}, session_instrument("BTCUSDT"), COSTS)
    cfg = SessionConfig(*args, Decimal(10_000), 60_000_000_000)
    assert cfg.policy == OrderPolicy("limit", 0.001, 2)
    assert full_record(cfg)["orders"] == {"kind": "limit", "offset": 0.001, "ttl": 2}
    given = SessionConfig(
        *args, Decimal(10_000), 60_000_000_000, orders=OrderPolicy("stop", 0.002, 1)
    )
    assert given.policy.kind == "stop"
    plain = SessionConfig(
        "s-2", REGISTRY["sma_cross"](), "sma", {}, *args[4:], Decimal(10_000), 60_000_000_000
    )
    assert plain.policy.is_market and full_record(plain)["orders"] is None

    class Bad(REGISTRY["sma_cross"]):
        orders = "limit"

    with pytest.raises(ValidationError) as err:
        SessionConfig("s-3", Bad(), "bad", {}, *args[4:], Decimal(10_000), 60_000_000_000)
    assert err.value.field == "orders"
    # and its own policy is what backtest and replay run when none is given
    report = compare(LimitSma(), BARS, COSTS, 10_000)
    assert report.ok and report.research_trades > 0
    plain = compare(REGISTRY["sma_cross"](), BARS, COSTS, 10_000)
    assert plain.research_final_equity != report.research_final_equity
