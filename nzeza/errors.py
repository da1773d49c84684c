"""The one error hierarchy of nzeza.

Every error a user can meet is an `NzezaError`. Each subclass carries the structured facts a
caller needs (field and value, check and limit, venue and retryable flag) as attributes, and a
message that names them. Messages pass through the secret redactor, so a secret that slips into
a value is masked before anyone can print it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nzeza.secrets import redact

_MAX_VALUE_CHARS = 120


def clip(text: str, limit: int) -> str:
    """`text` redacted, then cut to at most `limit` characters (an ellipsis marks a cut).

    Redaction must come first: a secret cut in half by the truncation is no longer the whole
    registered value, so the redactor would not find it and its head would survive.
    """
    text = _redact(text)
    if len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    return text


def show_value(value: Any) -> str:
    """A short, printable rendering of a value for an error message (never a secret)."""
    return clip(repr(value), _MAX_VALUE_CHARS)


def _redact(text: str) -> str:
    return redact(text)


class NzezaError(Exception):
    """Base of every nzeza error. `str(err)` is already redacted."""

    def __init__(self, message: str) -> None:
        self.message = _redact(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return _redact(self.message)


class ValidationError(NzezaError, ValueError):
    """A value failed validation: names the field, the value and why."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {field}={show_value(value)}: {reason}")


class TransitionError(NzezaError):
    """A state machine (order, session, circuit breaker) was asked for a transition its table
    forbids. `machine` names it, `state` and `event` say what was refused."""

    def __init__(self, machine: str, state: object, event: str) -> None:
        self.machine = machine
        self.state = state
        self.event = event
        super().__init__(f"{machine}: event {event} is not allowed in state {state}")


class OrderStateError(TransitionError):
    """An order was asked to make a transition its state machine forbids."""

    def __init__(self, order_id: str, state: str, event: str) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id!r}", state, event)


class SessionStateError(TransitionError):
    """The session state machine was asked for a transition its table forbids."""

    def __init__(self, state: object, event: str) -> None:
        super().__init__("session", state, event)


class BreakerTransitionError(TransitionError):
    """A circuit breaker was asked for a transition its table forbids."""

    def __init__(self, name: str, state: object, event: str) -> None:
        super().__init__(f"circuit breaker {name}", state, event)


class DataError(NzezaError):
    """Market data is malformed, missing or inconsistent."""


class ParseError(DataError):
    """A venue message could not be parsed: names venue, field and a truncated sample."""

    def __init__(self, venue: str, field: str, reason: str, sample: Any = None) -> None:
        self.venue = venue
        self.field = field
        self.reason = reason
        self.sample = show_value(sample) if sample is not None else ""
        tail = f" in {self.sample}" if self.sample else ""
        super().__init__(f"{venue}: cannot parse {field}: {reason}{tail}")


class RiskRejected(NzezaError):
    """A pre-trade risk check refused an order: names the check, its limit and the value."""

    def __init__(self, check: str, limit: Any, value: Any, detail: str = "") -> None:
        self.check = check
        self.limit = limit
        self.value = value
        self.detail = detail
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"risk check {check} rejected: value {show_value(value)} "
            f"breaches limit {show_value(limit)}{extra}"
        )


class VenueError(NzezaError):
    """A venue call failed. `retryable` says whether the same call may be tried again."""

    def __init__(self, venue: str, message: str, *, retryable: bool, code: str | None = None):
        self.venue = venue
        self.retryable = retryable
        self.code = code
        kind = "retryable" if retryable else "not retryable"
        code_part = f" [{code}]" if code else ""
        super().__init__(f"{venue}{code_part}: {message} ({kind})")


class ConfigError(NzezaError):
    """Configuration is wrong: names the variable and how to fix it."""

    def __init__(self, variable: str, reason: str, fix: str = "") -> None:
        self.variable = variable
        self.reason = reason
        self.fix = fix
        hint = f"; {fix}" if fix else ""
        super().__init__(f"{variable}: {reason}{hint}")


class LiveTradingNotAllowed(NzezaError):
    """Live trading was asked for but one or more gates are not satisfied."""

    def __init__(self, reasons: Iterable[str]) -> None:
        self.reasons = list(reasons)
        lines = "\n".join(f"  - {r}" for r in self.reasons)
        super().__init__(f"live trading is not allowed:\n{lines}")


class SessionLocked(NzezaError):
    """Another process runs this session id: names the holder (pid, host) and what to do."""

    def __init__(self, session_id: str, holder: str) -> None:
        self.session_id = session_id
        self.holder = holder
        super().__init__(
            f"session {session_id!r} is running in another process ({holder}): stop it "
            "first, or use another session id"
        )


class BookOutOfSync(NzezaError):
    """A local order book missed an update (sequence gap or checksum mismatch)."""

    def __init__(self, venue: str, symbol: str, reason: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.reason = reason
        super().__init__(f"{venue} {symbol} book out of sync: {reason}")


class InsufficientLiquidity(NzezaError):
    """The book cannot fill the requested quantity."""

    def __init__(self, side: str, requested: Any, available: Any) -> None:
        self.side = side
        self.requested = requested
        self.available = available
        super().__init__(
            f"insufficient liquidity to {side} {requested}: only {available} on the book"
        )


__all__ = [
    "BookOutOfSync",
    "ConfigError",
    "DataError",
    "InsufficientLiquidity",
    "LiveTradingNotAllowed",
    "NzezaError",
    "OrderStateError",
    "ParseError",
    "RiskRejected",
    "SessionLocked",
    "ValidationError",
    "VenueError",
    "clip",
    "show_value",
]
