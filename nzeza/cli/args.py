"""Checks of the session commands' flags: one clear error naming the flag and the value.

Each check takes the raw parsed value and returns it validated, or raises
`ValidationError("--flag", value, why)`, which `nzeza` prints as `error: invalid --flag=…: why`
and exits 2 — before any file, ledger row or connection exists.
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Any

from nzeza.errors import ValidationError

MAX_CASH = 1e12  # a paper account above a trillion is a typo, not a test
MAX_COST = 0.05  # fee or slippage as a fraction: 5 % per trade is already absurd
MAX_PACE_S = 60.0
SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.:-]{0,31}$")


def finite(flag: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    """`value` as a float in [low, high] (or (low, high] with `low_open`)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(flag, value, "is not a number") from None
    bracket = "(" if low_open else "["
    if not math.isfinite(x) or x > high or x < low or (low_open and x == low):
        raise ValidationError(
            flag, value, f"must be a finite number in {bracket}{low:g}, {high:g}]"
        )
    return x


def whole(flag: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(flag, value, f"must be a whole number in [{low}, {high}]")
    return value


def cash(value: Any) -> float:
    return finite("--cash", value, 0.0, MAX_CASH, low_open=True)


def strategy_arg(args: argparse.Namespace) -> str:
    """The strategy named positionally or with --strategy (one of them, not two different)."""
    pos, flag = getattr(args, "strategy_name", None), args.strategy
    if pos and flag and pos != flag:
        raise ValidationError("--strategy", flag, f"contradicts the positional strategy {pos!r}")
    name = pos or flag
    if not name:
        raise ValidationError(
            "strategy", None, "name one: nzeza replay|paper NAME (or --strategy NAME)"
        )
    return str(name)


def session_flags(args: argparse.Namespace) -> None:
    """Validate the flags of `nzeza paper|live` in place (see the module docstring)."""
    from nzeza.engine.lifecycle import check_session_id
    from nzeza.feeds.bars import timeframe_ns

    if args.session_id is not None:
        check_session_id(args.session_id, "--session-id")
    if args.mode == "live":
        if args.cash is not None:
            raise ValidationError(
                "--cash",
                args.cash,
                "is for paper and replay only: a live session sizes from the account "
                "(NZEZA_RISK__ACCOUNT_FRACTION of its free quote balance)",
            )
    else:
        args.cash = cash(10_000.0 if args.cash is None else args.cash)
    common_costs(args)
    symbols = [] if args.symbol is None else str(args.symbol).split(",")
    if any(not SYMBOL.match(s) for s in symbols):  # a portfolio strategy: BTCUSDT,ETHUSDT
        raise ValidationError("--symbol", args.symbol, "must be a symbol such as BTCUSDT")
    try:
        timeframe_ns(args.timeframe)
    except ValidationError as exc:
        raise ValidationError("--timeframe", args.timeframe, exc.reason) from None
    args.pace = finite("--pace", args.pace, 0.0, MAX_PACE_S)
    args.perp_terms = session_perp_terms(args)
    order_policy_from(args)  # --order-type/--offset/--ttl checked before anything opens
    if args.metrics_port is not None:
        args.metrics_port = whole("--metrics-port", args.metrics_port, 0, 65535)
    vol_flags(args)


def common_costs(args: argparse.Namespace) -> None:
    args.fee = finite("--fee", args.fee, 0.0, MAX_COST)
    args.slippage = finite("--slippage", args.slippage, 0.0, MAX_COST)
    maker_taker_flags(args)


class Given(argparse.Action):
    """Store the value and remember the flag was typed (`--fee` has a default, and `--fees`
    with a typed `--fee` is ambiguous even when the number equals the default)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        given = set(getattr(namespace, "given_flags", None) or ())
        given.add(option_string or self.dest)
        namespace.given_flags = given


def maker_taker_options(p: argparse.ArgumentParser) -> None:
    """`--maker-fee`/`--taker-fee` beside a command's `--fee` (see `costs_from`), and
    `--fees VENUE [--fees-volume V]`: a venue's published schedule instead (nzeza.domain.fees)."""
    p.add_argument(
        "--fees",
        default=None,
        metavar="VENUE",
        help="maker and taker fees of VENUE's published schedule (binance, binanceusdm, "
        "coinbase, kraken, hyperliquid, dydx; `nzeza config fees` prints them); not with "
        "--fee/--maker-fee/--taker-fee",
    )
    p.add_argument(
        "--fees-volume",
        default=None,
        metavar="QUOTE",
        help="with --fees: your 30-day traded volume in quote (Hyperliquid: 14-day), to pick "
        "the tier (default 0: the base tier)",
    )
    p.add_argument(
        "--maker-fee",
        type=float,
        default=None,
        help="fee of resting (maker) fills, a rebate down to -0.0005 (default: the taker fee)",
    )
    p.add_argument(
        "--taker-fee", type=float, default=None, help="fee of taker fills (default: --fee)"
    )


def order_options(p: argparse.ArgumentParser) -> None:
    """`--order-type market|limit|post_only|stop --offset F --ttl N` (nzeza.research.orders)."""
    p.add_argument(
        "--order-type",
        default=None,
        help="market (default: the strategy's own policy, else market), limit, post_only or "
        "stop: filled by the bar rule of docs/orders.md",
    )
    p.add_argument(
        "--offset",
        type=float,
        default=0.0,
        help="limit/stop price offset from the deciding close, a fraction (0.001 = 10 bps)",
    )
    p.add_argument("--ttl", type=int, default=1, help="bars a limit/stop order lives")


def order_policy_from(args: argparse.Namespace) -> Any:
    """The `OrderPolicy` of checked `--order-type/--offset/--ttl` (None: not given)."""
    from nzeza.research.orders import OrderPolicy

    kind = getattr(args, "order_type", None)
    if kind is None:
        if args.offset != 0.0 or args.ttl != 1:
            raise ValidationError("--order-type", None, "--offset and --ttl need an order type")
        return None
    try:
        return OrderPolicy(kind, args.offset, args.ttl)
    except ValidationError as exc:
        flag = {"order_type": "--order-type", "offset": "--offset", "ttl": "--ttl"}[exc.field]
        raise ValidationError(flag, exc.value, exc.reason) from None


def maker_taker_flags(args: argparse.Namespace) -> None:
    from nzeza.domain.costs import MIN_MAKER

    venue_fees(args)
    if getattr(args, "taker_fee", None) is not None:
        args.taker_fee = finite("--taker-fee", args.taker_fee, 0.0, MAX_COST)
    if getattr(args, "maker_fee", None) is not None:
        args.maker_fee = finite("--maker-fee", args.maker_fee, MIN_MAKER, MAX_COST)


def venue_fees(args: argparse.Namespace) -> Any:
    """The `Costs` (slippage aside) of `--fees VENUE [--fees-volume V]`, None without them.
    `--fees` with a typed `--fee`, `--maker-fee` or `--taker-fee` is a `ValidationError`
    (which one wins would be a guess), as is an unknown venue (the error lists the known)."""
    from nzeza.domain import Costs

    venue = getattr(args, "fees", None)
    volume = getattr(args, "fees_volume", None)
    if venue is None:
        if volume is not None:
            raise ValidationError("--fees-volume", volume, "needs --fees VENUE")
        return None
    typed = [
        flag
        for flag, given in (
            ("--fee", "--fee" in (getattr(args, "given_flags", None) or ())),
            ("--maker-fee", getattr(args, "maker_fee", None) is not None),
            ("--taker-fee", getattr(args, "taker_fee", None) is not None),
        )
        if given
    ]
    if typed:
        raise ValidationError(
            "--fees",
            venue,
            f"cannot be combined with {', '.join(typed)}: give a venue's schedule or the "
            "rates, not both",
        )
    try:
        return Costs.for_venue(venue, 0 if volume is None else volume, slippage=0.0)
    except ValidationError as exc:
        flag = {"fees": "--fees", "volume_30d": "--fees-volume"}.get(exc.field, exc.field)
        raise ValidationError(flag, exc.value, exc.reason) from None


def costs_from(args: argparse.Namespace) -> Any:
    """The `Costs` of checked flags: `--fees VENUE`'s schedule; else taker = `--taker-fee`,
    else `--fee`; maker = `--maker-fee`, else the taker fee (a single rate, as before)."""
    from nzeza.domain import Costs

    maker_taker_flags(args)
    chosen = venue_fees(args)
    if chosen is not None:
        return Costs(maker=chosen.maker, taker=chosen.fee, slippage=args.slippage)
    taker = getattr(args, "taker_fee", None)
    fee = args.fee if taker is None else taker
    return Costs(fee, args.slippage, maker=getattr(args, "maker_fee", None))


def vol_flags(args: argparse.Namespace) -> None:
    if getattr(args, "vol_target", None) is not None:
        args.vol_target = finite("--vol-target", args.vol_target, 0.0, 5.0, low_open=True)
    if getattr(args, "vol_lookback", None) is not None:
        args.vol_lookback = whole("--vol-lookback", args.vol_lookback, 2, 100_000)


def replay_flags(args: argparse.Namespace) -> None:
    """Validate the flags of `nzeza replay` in place."""
    args.cash = cash(args.cash)
    common_costs(args)
    vol_flags(args)


def perp_options(p: argparse.ArgumentParser) -> None:
    """`--perp VENUE [--funding FILE] [--leverage L] [--mmr RATE] [--max-leverage L]`: trade
    the bars as a perpetual (funding, margin and liquidation: docs/perpetuals.md)."""
    g = p.add_argument_group("perpetual (docs/perpetuals.md)")
    g.add_argument(
        "--perp",
        default=None,
        metavar="VENUE",
        help="trade as a perpetual of VENUE (binance: 8 h funding; dydx, hyperliquid: 1 h)",
    )
    g.add_argument(
        "--funding",
        default=None,
        metavar="FILE|ccxt:VENUE:SYMBOL",
        help="funding history: a CSV or Parquet file with ts and funding_rate columns, or "
        "ccxt:VENUE:SYMBOL, the cache `nzeza data funding VENUE SYMBOL` fills (its marks "
        "price the payments); without it no funding is applied",
    )
    g.add_argument("--leverage", default=1.0, help="target × leverage of equity (default 1)")
    g.add_argument(
        "--mmr", default="0.005", help="maintenance margin rate (default 0.005 = 0.5 %%)"
    )
    g.add_argument("--max-leverage", default="20", help="the venue's maximum leverage")


def session_perp_options(p: argparse.ArgumentParser) -> None:
    """`nzeza paper|live --perp VENUE [--leverage L] [--mmr R] [--max-leverage L]
    [--funding-feed URL]`: the session's symbol as a perpetual, its funding booked from the
    venue's funding stream (docs/perpetuals.md, "Sessions")."""
    g = p.add_argument_group("perpetual (docs/perpetuals.md)")
    g.add_argument(
        "--perp",
        default=None,
        metavar="VENUE",
        help="trade the symbol as a perpetual of VENUE (binance, dydx, hyperliquid), its "
        "funding booked from the venue's funding stream",
    )
    g.add_argument("--leverage", default=1.0, help="target × leverage of equity (default 1)")
    g.add_argument(
        "--mmr", default="0.005", help="maintenance margin rate (default 0.005 = 0.5 %%)"
    )
    g.add_argument("--max-leverage", default="20", help="the venue's maximum leverage")
    g.add_argument(
        "--funding-feed",
        default=None,
        metavar="URL",
        help="the venue's funding stream (default: the venue's own for --feed VENUE, e.g. "
        "Binance USDⓈ-M's wss://fstream.binance.com; none for recordings)",
    )


def session_perp_terms(args: argparse.Namespace) -> Any:
    """The `PerpTerms` of checked session perp flags (None without --perp)."""
    from decimal import Decimal

    from nzeza.engine.runner import PerpTerms

    if getattr(args, "perp", None) is None:
        if getattr(args, "funding_feed", None) is not None:
            raise ValidationError("--funding-feed", args.funding_feed, "needs --perp VENUE")
        if getattr(args, "leverage", 1.0) not in (1.0, "1", "1.0"):
            raise ValidationError("--leverage", args.leverage, "needs --perp VENUE")
        return None
    args.funding = None  # a session books the venue's stream, not a history file
    perp_spec(args)  # --perp, --leverage, --mmr, --max-leverage checked, one flag per error
    url = args.funding_feed
    if url is not None and not str(url).startswith(("ws://", "wss://")):
        raise ValidationError("--funding-feed", url, "must be a ws:// or wss:// URL")
    if args.mode == "live" and url is not None and not str(url).startswith("wss://"):
        raise ValidationError("--funding-feed", url, "a live session reads wss:// only")
    return PerpTerms(
        args.perp,
        Decimal(repr(args.leverage)),
        Decimal(repr(float(args.mmr))),
        Decimal(repr(float(args.max_leverage))),
        url,
    )


def perp_spec(args: argparse.Namespace, symbol: str = "BTC/USD:USD") -> Any:
    """The `Perpetual` the perp flags describe (None without --perp), and the flags checked:
    `args.leverage` a float, `args.funding_rates` the funding series or None."""
    from decimal import Decimal

    from nzeza.domain import Perpetual
    from nzeza.domain.perpetual import FUNDING_INTERVAL_HOURS

    venue = getattr(args, "perp", None)
    args.funding_rates = None
    if venue is None:
        for flag in ("funding",):
            if getattr(args, flag, None) is not None:
                raise ValidationError(f"--{flag}", getattr(args, flag), "needs --perp VENUE")
        return None
    if venue not in FUNDING_INTERVAL_HOURS:
        raise ValidationError("--perp", venue, f"must be one of {sorted(FUNDING_INTERVAL_HOURS)}")
    max_lev = finite("--max-leverage", args.max_leverage, 0.0, 1000.0, low_open=True)
    mmr = finite("--mmr", args.mmr, 0.0, 0.5, low_open=True)
    base, _, rest = symbol.partition("/")
    quote = rest.split(":")[0] or "USD"
    try:
        spec = Perpetual(
            venue,
            symbol,
            base or "BASE",
            quote,
            Decimal("1e-18"),
            Decimal("1e-18"),
            max_leverage=Decimal(repr(max_lev)),
            maintenance_margin_rate=Decimal(repr(mmr)),
        )
        lev = finite("--leverage", args.leverage, -1e6, 1e6)
        args.leverage = float(spec.check_leverage(lev))
    except ValidationError as exc:
        flags = {"maintenance_margin_rate": "--mmr", "initial_margin_rate": "--max-leverage"}
        flag = flags.get(exc.field) or (
            exc.field if exc.field.startswith("--") else f"--{exc.field.replace('_', '-')}"
        )
        raise ValidationError(flag, exc.value, exc.reason) from None
    if args.funding is not None:
        from nzeza.research.perp import read_funding

        try:
            args.funding_rates = read_funding(args.funding)
        except ValidationError as exc:
            reason = (
                f"{exc.reason} ({exc.field}={exc.value!r})"
                if exc.field != "funding"
                else exc.reason
            )
            raise ValidationError("--funding", args.funding, reason) from None
    return spec


DEFAULT_SAMPLE = "btc_usd_1h"


def data_options(p: argparse.ArgumentParser, *, symbol: bool = True) -> None:
    """`--sample NAME | --data PATH|ccxt:VENUE:SYMBOL:TIMEFRAME` and the options reading them
    (`nzeza.data.load`): every command that takes bars has the same ones."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--sample",
        default=None,
        help=f"a bundled sample (nzeza data samples; default {DEFAULT_SAMPLE})",
    )
    g.add_argument(
        "--data",
        default=None,
        metavar="PATH|ccxt:VENUE:SYMBOL:TIMEFRAME",
        help="your own bars: a CSV or Parquet file (time column and epoch unit detected, "
        "column names in any case), or the ccxt download cache (nzeza data download)",
    )
    if symbol:
        p.add_argument(
            "--symbol",
            dest="data_symbol",
            default=None,
            help="one symbol of a multi-symbol file/sample",
        )
    p.add_argument("--time-column", default=None, help="the time column, when not detected")
    p.add_argument(
        "--unit", default=None, choices=("s", "ms", "us", "ns"), help="epoch unit (default: size)"
    )
    p.add_argument(
        "--dayfirst", action="store_true", help="dates are day-first (31.12.2020, 31/12/2020)"
    )
    p.add_argument(
        "--repair",
        action="store_true",
        help="sort the bars and drop exact duplicate rows (printed); other problems are refused",
    )


def load_bars(args: argparse.Namespace, *, last: int | None = None, flag: str = "--last") -> Any:
    """The bars `data_options` names, checked (`nzeza.data.load`); what `--repair` changed is
    printed. `last`: only the last N bars."""
    from nzeza.data import load

    spec = args.data or args.sample or DEFAULT_SAMPLE
    bars = load(
        spec,
        symbol=getattr(args, "data_symbol", None),
        time_column=args.time_column,
        unit=args.unit,
        dayfirst=args.dayfirst,
        repair=args.repair,
    )
    return _repaired_and_cut(bars, spec, args.repair, last, flag)


def _repaired_and_cut(frame: Any, spec: str, repair: bool, last: int | None, flag: str) -> Any:
    """Print what `--repair` changed (or that it changed nothing); keep the last N bars."""
    for change in frame.attrs.get("repairs") or []:
        print(f"repaired {frame.attrs.get('sample', spec)}: {change}")
    if repair and not frame.attrs.get("repairs"):
        print(f"repair: nothing to change in {frame.attrs.get('sample', spec)}")
    if last is not None:
        if isinstance(last, bool) or not isinstance(last, int) or last < 2:
            raise ValidationError(flag, last, "must be a whole number of bars >= 2")
        frame = frame.iloc[-last:]
    return frame


def load_panel_bars(
    args: argparse.Namespace, *, last: int | None = None, flag: str = "--last"
) -> Any:
    """Every symbol of the bars `data_options` names, as a panel (`nzeza.data.load_panel`),
    for a portfolio strategy; `--symbol` is refused (the strategy trades all of them)."""
    from nzeza.data import load_panel

    if getattr(args, "data_symbol", None):
        raise ValidationError(
            "--symbol",
            args.data_symbol,
            "a portfolio strategy trades every symbol of the panel: drop --symbol",
        )
    spec = args.data or args.sample or DEFAULT_SAMPLE
    panel = load_panel(
        spec,
        time_column=args.time_column,
        unit=args.unit,
        dayfirst=args.dayfirst,
        repair=args.repair,
    )
    return _repaired_and_cut(panel, spec, args.repair, last, flag)


def bars_label(bars: Any) -> str:
    """`btc_usd_1h`, `my.csv[ETH]`: what the bars are called in printed output."""
    name = bars.attrs.get("sample") or "bars"
    sym = bars.attrs.get("symbol")
    return f"{name}[{sym}]" if sym and str(sym) not in str(name) else str(name)


def metrics_port(args: argparse.Namespace, settings: Any) -> int | None:
    """`--metrics-port`, else NZEZA_METRICS_PORT when it is set; None serves nothing."""
    if getattr(args, "metrics_port", None) is not None:
        return int(args.metrics_port)
    if "metrics_port" in settings.model_fields_set:
        return int(settings.metrics_port)
    return None


def vol_targeting_from(args: argparse.Namespace) -> Any:
    """`--vol-target X [--vol-lookback N]` → VolTargeting (None when not asked for)."""
    target = getattr(args, "vol_target", None)
    if target is None:
        return None
    from nzeza.engine.sizing import VolTargeting
    from nzeza.feeds.bars import timeframe_ns

    per_year = 365 * 86_400 * 1_000_000_000 / timeframe_ns(args.timeframe)
    return VolTargeting(
        float(target), int(getattr(args, "vol_lookback", 168) or 168), periods_per_year=per_year
    )


__all__ = [
    "Given",
    "bars_label",
    "cash",
    "costs_from",
    "data_options",
    "finite",
    "load_bars",
    "load_panel_bars",
    "maker_taker_flags",
    "maker_taker_options",
    "metrics_port",
    "order_options",
    "order_policy_from",
    "perp_options",
    "perp_spec",
    "replay_flags",
    "session_flags",
    "session_perp_options",
    "session_perp_terms",
    "strategy_arg",
    "venue_fees",
    "vol_targeting_from",
    "whole",
]
