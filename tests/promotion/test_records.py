"""Promotion gates: each refuses when its condition fails; live needs an exact record."""

from __future__ import annotations

import pytest

from nzeza.domain import Costs
from nzeza.errors import LiveTradingNotAllowed, ValidationError
from nzeza.promotion.binding import run_binding
from nzeza.promotion.live_check import require_live_promotion
from nzeza.promotion.records import GateResult, evaluate, params_hash, record
from nzeza.store import Ledger
from nzeza.strategies import SmaCross


def binding(**params: int) -> dict:
    return run_binding(
        SmaCross(**params), symbol="BTCUSDT", venue="binance", timeframe="1h", costs=Costs()
    )


def gate(name: str, ok: bool):
    return lambda: GateResult(name, ok, "ok" if ok else "condition failed")


def test_all_gates_must_pass() -> None:
    good = evaluate(
        "sma_cross", {"fast": 10}, "paper", {"a": gate("a", True), "b": gate("b", True)}
    )
    assert good.passed
    bad = evaluate(
        "sma_cross", {"fast": 10}, "paper", {"a": gate("a", True), "b": gate("b", False)}
    )
    assert not bad.passed
    assert "FAIL b" in str(bad)


def test_a_raising_gate_fails_with_its_reason() -> None:
    def broken():
        raise RuntimeError("no verdict file")

    d = evaluate("x", {}, "live", {"verdict": broken})
    assert not d.passed
    assert "no verdict file" in d.gates[0].detail


def test_no_gates_never_passes_and_target_is_checked() -> None:
    assert not evaluate("x", {}, "paper", {}).passed
    with pytest.raises(ValidationError):
        evaluate("x", {}, "production", {})


def test_live_requires_a_passed_record_for_the_exact_params(tmp_path) -> None:
    now = binding(fast=10, slow=30)
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        with pytest.raises(LiveTradingNotAllowed, match="no live promotion record"):
            require_live_promotion(ledger, now, "sma_cross")
        refused = evaluate(
            "sma_cross", {"fast": 10, "slow": 30}, "live", {"paper": gate("paper", False)}
        )
        record(ledger, refused, "data", "nb", now)
        with pytest.raises(LiveTradingNotAllowed, match="was refused"):
            require_live_promotion(ledger, now, "sma_cross")
        ok = evaluate("sma_cross", {"fast": 10, "slow": 30}, "live", {"paper": gate("paper", True)})
        record(ledger, ok, "data", "nb", now)
        assert require_live_promotion(ledger, binding(slow=30, fast=10), "sma_cross")["passed"]
        with pytest.raises(LiveTradingNotAllowed, match=r"params\.fast: promoted 10, now 12"):
            require_live_promotion(ledger, binding(fast=12, slow=30), "sma_cross")


def test_params_hash_is_order_independent() -> None:
    assert params_hash("s", {"a": 1, "b": 2}) == params_hash("s", {"b": 2, "a": 1})
    assert params_hash("s", {"a": 1}) != params_hash("t", {"a": 1})


def test_a_later_refusal_of_the_same_run_withdraws_its_pass(tmp_path) -> None:
    """Newest is the ledger's insertion order: a pass followed by a refusal of the same run
    (say, a new paper session that diverged) does not leave the old pass in force."""
    now = binding(fast=10, slow=30)
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        ok = evaluate("sma_cross", {"fast": 10, "slow": 30}, "live", {"paper": gate("paper", True)})
        record(ledger, ok, "data", "nb", now)
        assert require_live_promotion(ledger, now, "sma_cross")["id"] == ok.record_id
        no = evaluate(
            "sma_cross", {"fast": 10, "slow": 30}, "live", {"paper": gate("paper", False)}
        )
        record(ledger, no, "data", "nb", now)
        with pytest.raises(LiveTradingNotAllowed, match=r"\(#2\) was refused \(failed: paper\)"):
            require_live_promotion(ledger, now, "sma_cross")
        again = evaluate("sma_cross", {"fast": 10, "slow": 30}, "live", {"p": gate("p", True)})
        record(ledger, again, "data", "nb", now)
        assert require_live_promotion(ledger, now, "sma_cross")["id"] == again.record_id


def test_a_promotion_of_market_orders_does_not_cover_a_limit_policy(tmp_path) -> None:
    """A live session may now place limit, post-only and stop orders: the promotion binds the
    policy, so one made for market orders refuses a limit run, naming the field."""
    from nzeza.research.orders import OrderPolicy

    market = binding(fast=10, slow=30)
    assert "orders" not in market  # a market binding is what it always was
    limit = run_binding(
        SmaCross(fast=10, slow=30), symbol="BTCUSDT", venue="binance", timeframe="1h",
        costs=Costs(), orders=OrderPolicy("limit", 0.001, 2),
    )  # fmt: skip
    assert limit["orders"] == {"kind": "limit", "offset": 0.001, "ttl": 2}
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        ok = evaluate("sma_cross", {"fast": 10, "slow": 30}, "live", {"paper": gate("paper", True)})
        record(ledger, ok, "data", "nb", market)
        assert require_live_promotion(ledger, market, "sma_cross")["passed"]
        with pytest.raises(
            LiveTradingNotAllowed, match=r"orders\.kind: promoted \(absent\), now limit"
        ):
            require_live_promotion(ledger, limit, "sma_cross")
