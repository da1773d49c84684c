"""Risk limits: one frozen config, validated once at start-up.

Every limit is optional (None disables its check). Amounts are in the portfolio currency,
quantities in base units, bps in basis points (1 bp = 0.01 %). The money limits (order
notional, gross and net exposure, daily loss) may instead be a share of equity,
`EquityShare(Decimal("2.5"))` or the string "250%": the order and exposure limits are resolved
against the portfolio's equity at each check, the daily-loss limit against the equity at the
start of its period, so a limit keeps its meaning as the account grows or shrinks.

`on_size_breach` says what an order too large for a size limit becomes: "reject" (the
default here), "amend" (reduced to the largest size every limit allows) or "twap" (an order
above the per-order limits is split into children each within them; exposure limits still
reduce the parent). `validate()` raises a `ConfigError` naming the limit for anything negative,
zero where zero makes no sense, or inconsistent with another limit (a net exposure limit above
the gross one, an order notional above twice the gross exposure limit — more than a full flip —,
a per-order quantity above an instrument's position limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from nzeza.domain.numbers import to_decimal
from nzeza.errors import ConfigError, ValidationError

# The configurable checks in their default order. The kill switch and reduce-only mode always
# run first and are not in this list: they cannot be configured away.
DEFAULT_CHECKS: tuple[str, ...] = (
    "instrument",
    "max_order_qty",
    "max_order_notional",
    "position_limit",
    "instrument_exposure",
    "gross_exposure",
    "net_exposure",
    "max_open_positions",
    "max_open_orders",
    "daily_loss",
    "price_band",
    "order_rate",
    "slippage",
)

SLIPPAGE_ACTIONS = ("reject", "limit", "twap")
SIZE_ACTIONS = ("reject", "amend", "twap")
LOSS_PERIODS = ("utc_day", "session")
# The limits given as numbers (positive when set), parsed from text or floats once.
NUMERIC_LIMITS = (
    "max_order_qty",
    "max_order_notional",
    "max_gross_exposure",
    "max_net_exposure",
    "max_instrument_exposure",
    "daily_loss_limit",
    "max_slippage_bps",
    "price_band_bps",
)
# The money limits that may be a share of equity instead of an amount.
SHARE_LIMITS = (
    "max_order_notional",
    "max_gross_exposure",
    "max_net_exposure",
    "max_instrument_exposure",
    "daily_loss_limit",
)


@dataclass(frozen=True, slots=True)
class EquityShare:
    """A money limit as a fraction of equity (2.5 = 250 %), resolved when it is checked."""

    fraction: Decimal

    def __post_init__(self) -> None:
        value = to_decimal(self.fraction, "fraction")
        if value <= 0:
            raise ValidationError("fraction", self.fraction, "must be positive")
        object.__setattr__(self, "fraction", value)

    @classmethod
    def parse(cls, text: str) -> EquityShare:
        """ "250%" → EquityShare(2.5)."""
        number = text.strip().removesuffix("%")
        return cls(to_decimal(number, "percent") / 100)

    def resolve(self, equity: Decimal) -> Decimal:
        """The amount this share is of `equity` (0 when equity is not positive)."""
        return self.fraction * equity if equity > 0 else Decimal(0)

    def __str__(self) -> str:
        return f"{(self.fraction * 100).normalize():f}%"


Limit = Decimal | EquityShare


@dataclass(frozen=True)
class RiskConfig:
    """Limits of the pre-trade risk engine (see module docstring for units)."""

    checks: tuple[str, ...] = DEFAULT_CHECKS
    max_order_qty: Decimal | None = None
    max_order_notional: Limit | None = None
    position_limits: Mapping[str, Decimal] = field(default_factory=dict)  # |qty| per instrument
    max_gross_exposure: Limit | None = None
    max_net_exposure: Limit | None = None  # on |net|
    # |position| × mark of any one instrument after the order (a portfolio's per-symbol cap)
    max_instrument_exposure: Limit | None = None
    max_open_positions: int | None = None
    max_open_orders: int | None = None
    daily_loss_limit: Limit | None = None  # a positive amount: the largest loss allowed
    daily_loss_period: str = "utc_day"
    flatten_on_daily_loss: bool = False
    max_slippage_bps: Decimal | None = Decimal(50)
    on_slippage_breach: str = "reject"  # reject | limit (IOC at the band edge) | twap
    price_band_bps: Decimal | None = None
    max_orders_per_window: int | None = None
    rate_window_s: float = 1.0
    kill_file: Path | None = None
    reduce_only: bool = False
    on_size_breach: str = "reject"  # reject | amend | twap (see the module docstring)

    def __post_init__(self) -> None:
        # Normalise numbers so a YAML/JSON config can give strings or floats.
        for name in NUMERIC_LIMITS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _limit(name, value))
        limits = {k: _dec(f"position_limits[{k}]", v) for k, v in self.position_limits.items()}
        object.__setattr__(self, "position_limits", limits)
        object.__setattr__(self, "checks", tuple(self.checks))
        if self.kill_file is not None:
            object.__setattr__(self, "kill_file", Path(self.kill_file))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RiskConfig:
        """Build from plain values (YAML, notebook parameters); unknown keys are errors."""
        known = set(cls.__dataclass_fields__)
        for key in data:
            if key not in known:
                raise ConfigError(
                    f"risk.{key}", "is not a risk setting", f"use one of {sorted(known)}"
                )
        return cls(**dict(data)).validate()

    def validate(self) -> RiskConfig:
        """Raise `ConfigError` for any invalid or inconsistent limit; return self when fine."""
        seen: set[str] = set()
        for name in self.checks:
            if name not in DEFAULT_CHECKS:
                raise ConfigError("risk.checks", f"unknown check {name!r}", f"use {DEFAULT_CHECKS}")
            if name in seen:
                raise ConfigError("risk.checks", f"check {name!r} is listed twice")
            seen.add(name)
        for name in NUMERIC_LIMITS:
            value = getattr(self, name)
            if isinstance(value, EquityShare):
                if name not in SHARE_LIMITS:
                    raise ConfigError(f"risk.{name}", "cannot be a share of equity", "an amount")
            elif value is not None and value <= 0:
                raise ConfigError(f"risk.{name}", f"must be positive, got {value}", "or None")
        for key, value in self.position_limits.items():
            if value <= 0:
                raise ConfigError(f"risk.position_limits[{key}]", f"must be positive, got {value}")
            if self.max_order_qty is not None and self.max_order_qty > value:
                raise ConfigError(
                    "risk.max_order_qty",
                    f"{self.max_order_qty} exceeds the position limit {value} of {key}",
                    "lower max_order_qty or raise the position limit",
                )
        for name in ("max_open_positions", "max_open_orders", "max_orders_per_window"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(f"risk.{name}", f"must be an integer >= 1, got {value!r}")
        if not self.rate_window_s > 0:
            raise ConfigError("risk.rate_window_s", f"must be positive, got {self.rate_window_s}")
        if _comparable(self.max_instrument_exposure, self.max_gross_exposure) and _above(
            self.max_instrument_exposure, self.max_gross_exposure
        ):
            raise ConfigError(
                "risk.max_instrument_exposure",
                f"{self.max_instrument_exposure} exceeds max_gross_exposure "
                f"{self.max_gross_exposure}",
                "one instrument's exposure is part of the gross, so the cap would never bind",
            )
        if _comparable(self.max_net_exposure, self.max_gross_exposure) and _above(
            self.max_net_exposure, self.max_gross_exposure
        ):
            raise ConfigError(
                "risk.max_net_exposure",
                f"{self.max_net_exposure} exceeds max_gross_exposure {self.max_gross_exposure}",
                "|net| can never exceed gross, so the net limit would never bind",
            )
        # One order can at most flip a position from the gross limit short to the gross limit
        # long: twice the gross limit. A larger order limit could never bind.
        if _comparable(self.max_order_notional, self.max_gross_exposure) and _above(
            self.max_order_notional, _twice(self.max_gross_exposure)
        ):
            raise ConfigError(
                "risk.max_order_notional",
                f"{self.max_order_notional} exceeds twice max_gross_exposure "
                f"{self.max_gross_exposure} (a full flip)",
            )
        if self.on_slippage_breach not in SLIPPAGE_ACTIONS:
            raise ConfigError(
                "risk.on_slippage_breach",
                f"is {self.on_slippage_breach!r}",
                f"use {SLIPPAGE_ACTIONS}",
            )
        if self.on_size_breach not in SIZE_ACTIONS:
            raise ConfigError(
                "risk.on_size_breach", f"is {self.on_size_breach!r}", f"use {SIZE_ACTIONS}"
            )
        if self.daily_loss_period not in LOSS_PERIODS:
            raise ConfigError(
                "risk.daily_loss_period", f"is {self.daily_loss_period!r}", f"use {LOSS_PERIODS}"
            )
        if self.flatten_on_daily_loss and self.daily_loss_limit is None:
            raise ConfigError(
                "risk.flatten_on_daily_loss", "is set but daily_loss_limit is not", "set both"
            )
        return self


def _dec(name: str, value: Any) -> Decimal:
    try:
        return to_decimal(value, name)
    except ValidationError as exc:
        raise ConfigError(f"risk.{name}", exc.reason) from None


def _limit(name: str, value: Any) -> Limit:
    """An amount, or a share of equity given as EquityShare or "N%"."""
    if isinstance(value, EquityShare):
        return value
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return EquityShare.parse(value)
        except ValidationError as exc:
            raise ConfigError(f"risk.{name}", exc.reason, "e.g. 250%") from None
    return _dec(name, value)


def _comparable(a: Limit | None, b: Limit | None) -> bool:
    """Both set and of one kind (two amounts, or two shares of the same equity)."""
    return a is not None and b is not None and type(a) is type(b)


def _twice(limit: Limit | None) -> Limit | None:
    if isinstance(limit, EquityShare):
        return EquityShare(limit.fraction * 2)
    return None if limit is None else limit * 2


def _above(a: Limit | None, b: Limit | None) -> bool:
    if isinstance(a, EquityShare) and isinstance(b, EquityShare):
        return a.fraction > b.fraction
    return bool(a is not None and b is not None and a > b)  # type: ignore[operator]


__all__ = [
    "DEFAULT_CHECKS",
    "LOSS_PERIODS",
    "NUMERIC_LIMITS",
    "SHARE_LIMITS",
    "SIZE_ACTIONS",
    "SLIPPAGE_ACTIONS",
    "EquityShare",
    "Limit",
    "RiskConfig",
]
