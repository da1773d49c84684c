"""The `risk` section of the settings: the limits every paper and live session runs with.

    NZEZA_RISK__MAX_ORDER_NOTIONAL=250%      one order, at its expected fill price
    NZEZA_RISK__MAX_POSITION_NOTIONAL=150%   |position| × price after the order (gross)
    NZEZA_RISK__MAX_DAILY_LOSS=5%            of equity at the UTC day start; trips the breaker
    NZEZA_RISK__FLATTEN_ON_DAILY_LOSS=true   close the position when the breaker trips
    NZEZA_RISK__MAX_SLIPPAGE_BPS=50          estimated on a book (sessions with a book only)
    NZEZA_RISK__PRICE_BAND_BPS=500           limit/stop prices vs the reference price
    NZEZA_RISK__MAX_OPEN_POSITIONS=1         NZEZA_RISK__MAX_OPEN_ORDERS=20
    NZEZA_RISK__MAX_GROSS_EXPOSURE=150%      portfolio sessions: Σ |position| × price after
    NZEZA_RISK__MAX_NET_EXPOSURE=120%        portfolio sessions: |Σ position × price| after
    NZEZA_RISK__MAX_SYMBOL_EXPOSURE=110%     portfolio sessions: one symbol's |position| × price
    NZEZA_RISK__MAX_PORTFOLIO_POSITIONS=3    portfolio sessions: symbols held at once
    NZEZA_RISK__MAX_ORDERS_PER_SECOND=10     a runaway loop, not a strategy, sends more
    NZEZA_RISK__ON_BREACH=twap               an order above a size limit: twap | amend | reject
    NZEZA_RISK__TWAP_HORIZON=0.5             TWAP children spread over this fraction of a bar
    NZEZA_RISK__STOP_LOSS / __TAKE_PROFIT / __TRAILING_STOP   fractions of the entry (off)
    NZEZA_RISK__TRAILING_ATR=3 (× ATR over NZEZA_RISK__ATR_BARS=14 bars; off)
    NZEZA_RISK__ACCOUNT_FRACTION=0.5         live: the share of the account's free quote
                                             balance a new session sizes from

Money limits are an amount in the quote currency (`1000`) or a share of equity (`250%`),
resolved when an order is checked (the daily loss against the equity at the day's start), so
the defaults fit any account: a 10,000 USDT paper account trades unhindered, while an order of
16,149 BTC is far above 250 % of it. Why these defaults: the research sizing rule never asks for
more than a full flip (short 100 % → long 100 % = 200 % of equity) or a position above 100 % of
equity, so 250 % and 150 % bind only on an order the rule could not have made. A portfolio
session (several symbols, shared cash) runs the portfolio limits instead of the single-symbol
position limit and open-position count: the weights of an unlevered portfolio strategy sum to
at most 100 % of equity in absolute value (gross and net) and one symbol's to at most 100 %;
the fill price's slippage and the drift between sizing and checking move them by a fraction of
a percent, so 150 % / 120 % / 110 % bind only on weights the strategy could not have asked for
unlevered (a levered one is clipped until the user loosens a limit, and the ledger records
that). `MAX_PORTFOLIO_POSITIONS` counts the symbols held at once. `off` (or
`none`) turns a limit off; the session records every limit looser than its default in the
ledger ("limit loosened: …"), with the risk record it ran with (`risk_config_record`).

This module holds values only (ops knows nothing of the risk engine); the engine turns them
into a `RiskConfig` (`nzeza.engine.riskgate.risk_config`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

OFF = ("off", "none", "")
MONEY_LIMITS = (
    "max_order_notional",
    "max_position_notional",
    "max_daily_loss",
    "max_gross_exposure",
    "max_net_exposure",
    "max_symbol_exposure",
)
BPS_LIMITS = ("max_slippage_bps", "price_band_bps")
COUNT_LIMITS = (
    "max_open_positions",
    "max_open_orders",
    "max_orders_per_second",
    "max_portfolio_positions",
)
FRACTIONS = ("stop_loss", "take_profit", "trailing_stop")
BREACH_STRICTNESS = {"reject": 2, "amend": 1, "twap": 0}  # higher: fewer orders go out


def parse_money(value: Any) -> str | None:
    """An amount (`1000`) or a share of equity (`250%`) as canonical text; None for off."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in OFF:
        return None
    number = text.removesuffix("%")
    try:
        d = Decimal(number)
    except InvalidOperation:
        raise ValueError(
            f"{value!r} is not an amount (1000), a share of equity (250%) or off"
        ) from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"{value!r} must be positive and finite (or off)")
    return f"{d.normalize():f}%" if text.endswith("%") else f"{d.normalize():f}"


def _number(value: Any, *, integer: bool = False) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() in OFF):
        return None
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number (or off)") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"{value!r} must be positive and finite (or off)")
    if integer:
        if d != d.to_integral_value():
            raise ValueError(f"{value!r} must be a whole number (or off)")
        return int(d)
    return d


class RiskSettings(BaseModel):
    """Risk limits of paper and live sessions; on by default (see the module docstring)."""

    model_config = ConfigDict(frozen=True)  # a value: shared defaults never change under you

    max_order_notional: str | None = "250%"
    max_position_notional: str | None = "150%"
    max_daily_loss: str | None = "5%"
    flatten_on_daily_loss: bool = True
    max_slippage_bps: Decimal | None = Decimal(50)
    price_band_bps: Decimal | None = Decimal(500)
    max_open_positions: int | None = 1
    max_open_orders: int | None = 20
    max_orders_per_second: int | None = 10
    # portfolio sessions (a portfolio strategy over several symbols; see the module docstring)
    max_gross_exposure: str | None = "150%"
    max_net_exposure: str | None = "120%"
    max_symbol_exposure: str | None = "110%"
    max_portfolio_positions: int | None = 3
    on_breach: Literal["twap", "amend", "reject"] = "twap"
    twap_horizon: Decimal = Decimal("0.5")
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    trailing_stop: Decimal | None = None
    trailing_atr: Decimal | None = None
    atr_bars: int = 14
    account_fraction: Decimal = Decimal("0.5")

    @field_validator(*MONEY_LIMITS, mode="before")
    @classmethod
    def _money(cls, v: Any) -> str | None:
        return parse_money(v)

    @field_validator(*BPS_LIMITS, "trailing_atr", mode="before")
    @classmethod
    def _positive(cls, v: Any) -> Decimal | None:
        return _number(v)

    @field_validator(*COUNT_LIMITS, mode="before")
    @classmethod
    def _count(cls, v: Any) -> int | None:
        return _number(v, integer=True)

    @field_validator(*FRACTIONS, mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> Decimal | None:
        d = _number(v)
        if d is not None and d >= 1:
            raise ValueError(f"{v!r} must be a fraction of the entry price below 1 (0.02 = 2%)")
        return d

    @field_validator("twap_horizon", "account_fraction", mode="before")
    @classmethod
    def _unit(cls, v: Any) -> Decimal:
        d = _number(v)
        if d is None or d > 1:
            raise ValueError(f"{v!r} must be in (0, 1]")
        return d

    @field_validator("atr_bars", mode="before")
    @classmethod
    def _bars(cls, v: Any) -> int:
        n = _number(v, integer=True)
        if n is None or n < 2:
            raise ValueError(f"{v!r} must be a whole number >= 2")
        return n

    @property
    def stops_on(self) -> bool:
        return any(
            getattr(self, n) is not None
            for n in ("stop_loss", "take_profit", "trailing_stop", "trailing_atr")
        )


DEFAULT_RISK = RiskSettings()


def risk_config_record(risk: RiskSettings | None = None) -> dict[str, Any]:
    """The risk configuration as canonical plain values (strings for numbers, None for off):
    recorded with each session in the ledger and bound into promotions."""
    risk = risk if risk is not None else DEFAULT_RISK
    out: dict[str, Any] = {}
    for name in RiskSettings.model_fields:
        value = getattr(risk, name)
        if isinstance(value, Decimal):
            value = f"{value.normalize():f}"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        out[name] = value
    return out


def describe_risk(risk: RiskSettings) -> dict[str, str]:
    """How `config show` prints each limit ("250% of equity", "off")."""
    out: dict[str, str] = {}
    for name, value in risk_config_record(risk).items():
        if value is None:
            out[name] = "off"
        elif name in MONEY_LIMITS and str(value).endswith("%"):
            out[name] = f"{value} of equity"
        else:
            out[name] = str(value)
    return out


def loosened(risk: RiskSettings, equity: Decimal) -> list[tuple[str, str, str]]:
    """Every limit `risk` sets looser than the default, as (name, default, given) texts.

    Money limits are compared at `equity` (an amount against a share of it); a limit turned
    off is always looser. Tightening is not reported.
    """
    out: list[tuple[str, str, str]] = []
    default = DEFAULT_RISK

    def money(text: str | None) -> Decimal | None:
        if text is None:
            return None
        if text.endswith("%"):
            return Decimal(text[:-1]) / 100 * equity
        return Decimal(text)

    def looser(mine: Any, theirs: Any) -> bool:
        if theirs is None:
            return False
        return mine is None or mine > theirs

    for name in RiskSettings.model_fields:
        given, base = getattr(risk, name), getattr(default, name)
        if name in MONEY_LIMITS:
            loose = looser(money(given), money(base))
        elif name in BPS_LIMITS or name in COUNT_LIMITS or name == "account_fraction":
            loose = looser(given, base)
        elif name == "flatten_on_daily_loss":
            loose = base and not given
        elif name == "on_breach":
            loose = BREACH_STRICTNESS[given] < BREACH_STRICTNESS[base]
        else:  # stops (off by default), TWAP pacing, ATR window: tightening or neutral
            loose = False
        if loose:
            out.append((name, _text(base), _text(given)))
    return out


def _text(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


__all__ = [
    "DEFAULT_RISK",
    "RiskSettings",
    "describe_risk",
    "loosened",
    "parse_money",
    "risk_config_record",
]
