"""The one error hierarchy: every error is an NzezaError, carries its facts, and is redacted."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nzeza import errors as e
from nzeza.secrets import clear_secrets, register_secret

SECRET = "sk_live_" + "Q" * 40


@pytest.fixture(autouse=True)
def _secret():
    clear_secrets()
    register_secret(SECRET)
    yield
    clear_secrets()


CASES = [
    (
        e.ValidationError("quantity", Decimal("-1"), "must not be negative"),
        {"field": "quantity", "value": Decimal("-1"), "reason": "must not be negative"},
        ["quantity", "-1", "must not be negative"],
    ),
    (e.DataError("bars have a gap at 2024-01-01"), {}, ["gap"]),
    (
        e.ParseError("binance", "price", "not a number", {"p": "x"}),
        {"venue": "binance", "field": "price"},
        ["binance", "price"],
    ),
    (
        e.RiskRejected("max_order_notional", Decimal(100), Decimal(150)),
        {"check": "max_order_notional", "limit": Decimal(100), "value": Decimal(150)},
        ["max_order_notional", "100", "150"],
    ),
    (
        e.VenueError("binance", "timeout", retryable=True),
        {"venue": "binance", "retryable": True},
        ["binance", "retryable"],
    ),
    (
        e.ConfigError("NZEZA_MODE", "unknown mode 'yolo'", "set it to replay, paper or live"),
        {"variable": "NZEZA_MODE"},
        ["NZEZA_MODE", "replay, paper or live"],
    ),
    (
        e.LiveTradingNotAllowed(["NZEZA_LIVE_CONFIRM is not set", "no promotion"]),
        {"reasons": ["NZEZA_LIVE_CONFIRM is not set", "no promotion"]},
        ["NZEZA_LIVE_CONFIRM", "no promotion"],
    ),
    (
        e.BookOutOfSync("binance", "BTCUSDT", "sequence gap 10 -> 12"),
        {"venue": "binance", "symbol": "BTCUSDT"},
        ["BTCUSDT", "gap"],
    ),
    (
        e.InsufficientLiquidity("buy", Decimal(5), Decimal(2)),
        {"side": "buy", "requested": Decimal(5), "available": Decimal(2)},
        ["buy", "5", "2"],
    ),
    (e.OrderStateError("c1", "filled", "cancel"), {"order_id": "c1"}, ["filled", "cancel"]),
    (
        e.SessionLocked("s1", "pid 42 on host h"),
        {"session_id": "s1", "holder": "pid 42 on host h"},
        ["s1", "pid 42", "another session id"],
    ),
]


@pytest.mark.parametrize(("err", "attrs", "words"), CASES, ids=lambda c: type(c).__name__)
def test_every_error_is_an_nzeza_error_with_its_facts(err, attrs, words) -> None:
    assert isinstance(err, e.NzezaError)
    for name, value in attrs.items():
        assert getattr(err, name) == value
    for word in words:
        assert word in str(err)


def test_validation_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError):
        raise e.ValidationError("x", 1, "bad")


def test_every_exported_error_class_is_in_the_hierarchy() -> None:
    classes = [getattr(e, n) for n in e.__all__ if isinstance(getattr(e, n), type)]
    assert len(classes) >= 10
    assert all(issubclass(c, e.NzezaError) for c in classes)
    covered = {type(err) for err, _, _ in CASES}
    assert covered == set(classes) - {e.NzezaError}


@pytest.mark.parametrize(
    "make",
    [
        lambda: e.ValidationError("api_key", SECRET, "rejected"),
        lambda: e.VenueError("binance", f"bad signature for {SECRET}", retryable=False),
        lambda: e.ConfigError("NZEZA_BINANCE__API_SECRET", f"got {SECRET}"),
        lambda: e.RiskRejected("check", SECRET, SECRET, detail=SECRET),
        lambda: e.DataError(f"row contains {SECRET}"),
        lambda: e.LiveTradingNotAllowed([f"key {SECRET} malformed"]),
        lambda: e.ParseError("binance", "p", "bad", {"k": SECRET}),
    ],
)
def test_no_error_message_carries_a_registered_secret(make) -> None:
    err = make()
    for text in (str(err), repr(err), err.message, " ".join(map(str, err.args))):
        assert SECRET not in text
    assert "***" in str(err)


def test_long_values_are_truncated_in_messages() -> None:
    err = e.ValidationError("payload", "x" * 10_000, "too long")
    assert len(str(err)) < 300


def _leaks_a_prefix(text: str, secret: str = SECRET, shortest: int = 10) -> bool:
    """True when `text` holds any prefix of `secret` at least `shortest` characters long."""
    return any(secret[:n] in text for n in range(shortest, len(secret) + 1))


@pytest.mark.parametrize("pad", [90, 100, 105, 110, 115])
def test_a_secret_cut_by_truncation_leaves_no_prefix(pad) -> None:
    """Truncating first kept the secret's head (the whole secret was no longer there for the
    redactor to find): values are redacted, then cut."""
    err = e.ValidationError("payload", "x" * pad + SECRET, "too long")
    assert not _leaks_a_prefix(str(err)), str(err)
    assert not _leaks_a_prefix(e.show_value("y" * pad + SECRET))


def test_clip_redacts_before_cutting() -> None:
    text = "z" * 290 + SECRET + " tail"
    clipped = e.clip(text, 300)
    assert len(clipped) <= 300 and not _leaks_a_prefix(clipped)
    assert e.clip("short", 300) == "short"


def test_every_state_machine_refusal_is_one_error_type() -> None:
    """Orders, sessions and circuit breakers refuse a transition with the same base error."""
    from nzeza.domain import Instrument, Order, OrderCanceled, Side
    from nzeza.engine.state import SessionMachine
    from nzeza.feeds.breaker import TRANSITIONS, BreakerState, CircuitBreaker

    with pytest.raises(e.TransitionError, match="session: event resume_from_nowhere"):
        SessionMachine().fire("resume_from_nowhere")
    breaker = CircuitBreaker("binance")
    with pytest.raises(e.TransitionError, match="circuit breaker binance"):
        breaker._fire(next(iter(TRANSITIONS[BreakerState.OPEN])), "x")  # timeout while closed
    inst = Instrument(
        "paper", "BTC/USDT", "BTC", "USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001")
    )
    order = Order("c1", inst, Side.BUY, Decimal("1"))
    order.apply(OrderCanceled())
    with pytest.raises(e.TransitionError, match="order 'c1'"):
        order.apply(OrderCanceled())  # a canceled order cannot be canceled again
