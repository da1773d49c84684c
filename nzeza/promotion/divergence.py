"""Divergence: a recorded paper or live session against the research backtest of the same bars.

The session's bars are rebuilt from the trades of its feed (`nzeza.engine.tracking`), the
strategy's research backtest runs on them under the research costs (the kernel of
`nzeza.research.backtest`: a target decided at a bar's close fills at the next bar's open with
the assumed fee and slippage), and the two are compared:

- **fills**: each session fill against the market price at its time (the last trade at or
  before it) and against the research reference (the open of the bar after the decision):
  realised slippage and fees against the `Costs` assumed, and latency (fill time − decision
  time, the bar's end) with the price move it cost;
- **trades**: decisions of research and session matched by decision bar and side; a research
  order the session never made is *missed*, a session order research never made is *extra*;
- **returns**: final equity of both over the bars both have, the largest equity gap as a
  fraction of research equity (tracking error), and the session's annualised Sharpe.

The **attribution** splits the gap (research final equity − session final equity, quote
currency; positive: the session did worse) into

    slippage  realised slippage cost − the slippage research assumed on the same fills
    fees      fees paid − the fee rate research assumed on the same fills
    latency   the price move between the research reference (next open) and the fill's
              market price, signed against the order
    trades    the rest: missed and extra trades, other sizes, compounding

A perpetual session is measured against `backtest_perp`'s rule at its leverage with the
funding it booked, and its funding and liquidations are compared too
(`nzeza.promotion.perp_divergence`).

`nzeza divergence SESSION [--json]` prints it; the paper gate judges on it; the session's
HTML report shows it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from nzeza.errors import ValidationError
from nzeza.promotion.perp_divergence import is_perpetual, perp_report, research_perp

COMPONENTS = ("slippage", "fees", "latency", "trades")
NS_PER_YEAR = 365 * 86_400 * 1_000_000_000


@dataclass
class DivergenceReport:
    """The comparison of one session with its research backtest (see the module docstring)."""

    session_id: str
    mode: str
    strategy: str
    timeframe: str
    bars: int  # session equity snapshots (one per closed bar)
    compared: int  # bars both the session and the backtest have
    span_days: float
    init_cash: float
    fee: float  # the costs research assumed
    slippage: float
    session_final: float
    research_final: float
    tracking_error: float  # max |session − research| / research over the compared bars
    fills: int
    realised_slippage_bps: float  # notional-weighted, against the market price at fill time
    realised_fee_rate: float
    median_latency_ms: float
    research_orders: int
    session_orders: int
    matched: int
    missed: int
    extra: int
    attribution: dict[str, float] = field(default_factory=dict)
    session_sharpe: float | None = None  # annualised, per-bar returns
    fill_table: pd.DataFrame | None = field(default=None, repr=False)
    perp: Any = None  # a perpetual session's funding and liquidations (`perp_divergence`)

    @property
    def gap(self) -> float:
        """Research final equity − session final equity (quote currency)."""
        return self.research_final - self.session_final

    @property
    def gap_return(self) -> float:
        return self.gap / self.init_cash if self.init_cash else math.nan

    @property
    def excess_slippage_bps(self) -> float:
        return self.realised_slippage_bps - self.slippage * 1e4

    @property
    def trade_mismatch(self) -> float:
        """Missed + extra orders as a fraction of the research orders (0 when none either)."""
        wrong = self.missed + self.extra
        return wrong / self.research_orders if self.research_orders else float(wrong > 0)

    @property
    def main_cause(self) -> str:
        """The component of the attribution that explains most of the gap."""
        if not self.attribution or abs(self.gap) <= 1e-9 * max(self.init_cash, 1.0):
            return "none (no gap)"
        return max(COMPONENTS, key=lambda c: abs(self.attribution.get(c, 0.0)))

    def to_dict(self) -> dict[str, Any]:
        out = {
            k: getattr(self, k)
            for k in self.__dataclass_fields__
            if k not in ("fill_table", "attribution", "perp")
        }
        if self.perp is not None:
            out["perp"] = self.perp.to_dict()
        out.update(
            gap=self.gap,
            gap_return=self.gap_return,
            excess_slippage_bps=self.excess_slippage_bps,
            trade_mismatch=self.trade_mismatch,
            main_cause=self.main_cause,
            attribution=dict(self.attribution),
        )
        return _finite(json.loads(json.dumps(out, default=_plain)))

    def attribution_lines(self) -> list[str]:
        total = self.gap
        lines = []
        for c in COMPONENTS:
            v = self.attribution.get(c, 0.0)
            material = abs(total) > 1e-9 * max(self.init_cash, 1.0)
            share = f" ({v / total:+.0%} of the gap)" if material else ""
            lines.append(f"  {c:<9} {v:+,.4f}{share}")
        return lines

    def __str__(self) -> str:
        sharpe = "n/a" if self.session_sharpe is None else f"{self.session_sharpe:.2f}"
        lines = [
            f"divergence of {self.mode} session {self.session_id} ({self.strategy}, "
            f"{self.timeframe} bars) from its research backtest on the same bars",
            f"  bars        {self.bars} ({self.compared} compared, {self.span_days:.2f} days)",
            f"  equity      session {self.session_final:,.4f}   research "
            f"{self.research_final:,.4f}   gap {self.gap:+,.4f} ({self.gap_return:+.3%} of "
            f"{self.init_cash:,.2f})   tracking error {self.tracking_error:.2e}",
            f"  fills       {self.fills}: slippage {self.realised_slippage_bps:.2f} bps realised "
            f"vs {self.slippage * 1e4:.2f} assumed (excess {self.excess_slippage_bps:+.2f}), "
            f"fee rate {self.realised_fee_rate:.5f} vs {self.fee:.5f}, median latency "
            f"{self.median_latency_ms:.0f} ms",
            f"  trades      research {self.research_orders}, session {self.session_orders}: "
            f"{self.matched} matched, {self.missed} missed, {self.extra} extra",
            f"  sharpe      session {sharpe} (annualised)",
            f"  attribution of the gap (quote currency; main cause: {self.main_cause})",
            *self.attribution_lines(),
            *(self.perp.lines() if self.perp is not None else []),
        ]
        return "\n".join(lines)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _finite(value: Any) -> Any:
    """NaN and infinities as None (JSON has no such numbers)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def session_config(ledger: Any, session_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The session's ledger row and its recorded config, or a `ValidationError`."""
    row = ledger.session(session_id)
    if row is None:
        raise ValidationError("session", session_id, "is not in the ledger")
    return row, json.loads(row.get("config") or "{}")


def session_market(cfg: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trades of the session's feed and the bars rebuilt from them at its timeframe."""
    from nzeza.engine.runner import feed_paths, replay_spec
    from nzeza.engine.tracking import bars_of, capture_prices

    feed = cfg.get("feed")
    if not feed or not str(feed).startswith(("capture:", "replay:")):
        raise ValidationError(
            "feed",
            feed,
            "the session's trades were not recorded (only capture: and replay: feeds can be "
            "rebuilt); record the feed with `nzeza feed record` and run the session on it",
        )
    paths, symbol = feed_paths(feed)
    venue = "binance"
    if symbol is None:  # a recording: its venue and symbol as the session resolved them
        spec = replay_spec(feed, paths, cfg.get("symbol") or "BTCUSDT")
        symbol, venue = spec.symbol, spec.venue or venue
    trades = capture_prices(paths, symbol, venue)
    return trades, bars_of(trades, str(cfg.get("timeframe", "5s")))


def session_strategy(row: dict[str, Any], cfg: dict[str, Any]) -> Any:
    """The strategy a session ran: its recorded class path (else its name) and parameters."""
    from nzeza.engine.runner import resolve_class

    spec = str(cfg.get("family") or row["strategy"])
    cls, _ = resolve_class(spec)
    params = json.loads(row["params"] or "{}")
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:  # the recorded params are not its constructor's
        raise ValidationError(
            "params",
            json.dumps(params, sort_keys=True, separators=(",", ":")),
            f"strategy {spec} cannot be rebuilt from the parameters session {row['session_id']} "
            f"recorded ({type(exc).__name__}: {exc}); give its construction parameters with "
            "--params KEY=VALUE",
        ) from None


def _vol_targeting(cfg: dict[str, Any]) -> Any:
    vt = cfg.get("vol_targeting")
    if not vt:
        return None
    from nzeza.engine.sizing import VolTargeting

    return VolTargeting(
        float(vt["target_vol"]),
        int(vt["lookback"]),
        periods_per_year=float(vt["periods_per_year"]),
        max_leverage=float(vt["max_leverage"]),
        step=vt.get("step"),
    )


def recorded_costs(cfg: dict[str, Any], fee: Any = None, maker: Any = None, slippage: Any = None):
    """The research `Costs` of a session's recorded config, each rate overridden when given:
    taker = `fee`, else the recorded fee; maker = `maker`, else the recorded maker fee, else
    the taker fee (a single rate, as the session recorded it)."""
    from nzeza.domain import Costs

    taker = float(cfg.get("fee", 0.001)) if fee is None else fee
    slip = float(cfg.get("slippage", 0.0005)) if slippage is None else slippage
    if maker is None and "maker" in cfg and fee is None:
        maker = float(cfg["maker"])
    return Costs(taker, slip, maker=maker)


def recorded_policy(cfg: dict[str, Any]) -> Any:
    """The order policy a session recorded (None: market orders)."""
    from nzeza.research.orders import OrderPolicy

    rec = cfg.get("orders")
    return None if not rec else OrderPolicy(rec["kind"], rec["offset"], rec["ttl"])


def fill_row(
    fill: Any, bar_ts: int, tf_ns: int, ref: float, market: float, costs: Any, **extra: Any
) -> dict[str, Any]:
    """One fill against research: decided at bar `bar_ts`'s close, research's reference the next
    open `ref`, the market's last trade `market` when it filled; its realised slippage, latency
    and what each cost beyond the research `costs` (`extra` columns follow the time)."""
    decided = bar_ts + tf_ns
    q, p, sign = float(fill.quantity), float(fill.price), 1.0 if fill.side == "buy" else -1.0
    return {
        "ts": pd.Timestamp(int(fill.ts), unit="ns", tz="UTC"),
        **extra,
        "side": str(fill.side),
        "quantity": q,
        "decision_bar": pd.Timestamp(bar_ts, unit="ns", tz="UTC"),
        "reference": ref,
        "market": market,
        "price": p,
        "fee": float(fill.fee),
        "slippage_bps": sign * (p - market) / market * 1e4 if market else math.nan,
        "latency_ms": (int(fill.ts) - decided) / 1e6,
        "slippage_cost": sign * (p - market) * q - market * q * costs.slippage,
        "fee_cost": float(fill.fee) - p * q * costs.fee,
        "latency_cost": sign * (market - ref) * q if math.isfinite(ref) else 0.0,
    }


def fill_statistics(
    table: pd.DataFrame, both: pd.DataFrame, paper: pd.DataFrame, tf_ns: int
) -> dict[str, Any]:
    """What a session's fills and equity say, the same for one symbol and a portfolio: the gap
    between research and session attributed to slippage, fees and latency (the rest to trades),
    realised slippage (bps, notional-weighted) and fee rate, median latency, the session's
    annualised Sharpe and its span in days."""
    gap = float(both["research"].iloc[-1] - both["session"].iloc[-1])
    attribution = {c: 0.0 for c in COMPONENTS}
    notional = 0.0
    if len(table):
        attribution["slippage"] = float(table["slippage_cost"].sum())
        attribution["fees"] = float(table["fee_cost"].sum())
        attribution["latency"] = float(table["latency_cost"].sum())
        notional = float((table["market"] * table["quantity"]).sum())
    attribution["trades"] = (
        gap - attribution["slippage"] - attribution["fees"] - attribution["latency"]
    )
    realised_slip = (
        float((table["slippage_bps"] * table["market"] * table["quantity"]).sum() / notional)
        if notional
        else 0.0
    )
    fee_rate = (
        float(table["fee"].sum() / (table["price"] * table["quantity"]).sum()) if notional else 0.0
    )
    returns = both["session"].pct_change().dropna()
    sharpe = None
    if len(returns) > 2 and float(returns.std(ddof=1)) > 0:
        sharpe = float(returns.mean() / returns.std(ddof=1) * math.sqrt(NS_PER_YEAR / tf_ns))
    span = (int(paper.index[-1].value) - int(paper.index[0].value) + tf_ns) / 86_400e9
    return {
        "attribution": attribution,
        "fills": len(table),
        "realised_slippage_bps": realised_slip,
        "realised_fee_rate": fee_rate,
        "median_latency_ms": float(table["latency_ms"].median()) if len(table) else 0.0,
        "session_sharpe": sharpe,
        "span_days": float(span),
    }


class SessionEquity(NamedTuple):
    """A session's equity curve (`paper`), it beside research on their common bars (`both`:
    `session`, `research`), the last common bar (ns) and the tracking error."""

    paper: pd.Series
    both: pd.DataFrame
    last_ns: int
    tracking_error: float


def session_equity(ledger: Any, session_id: str, research: pd.Series) -> SessionEquity:
    """The session's equity (one snapshot per closed bar), the same for one symbol and a
    portfolio: the curve, it beside `research` on their common bars (`session`, `research`),
    the last common bar (ns) and the tracking error (largest |session - research| / research)."""
    curve = ledger.equity_curve(session_id)
    paper = pd.Series(
        [float(e) for _, e in curve],
        index=pd.to_datetime([ts for ts, _ in curve], unit="ns", utc=True),
        dtype=float,
    )
    paper = paper[~paper.index.duplicated(keep="last")]
    both = pd.DataFrame({"session": paper, "research": research.reindex(paper.index)}).dropna()
    if both.empty:
        raise ValidationError("session", session_id, "has no bar in common with its feed's bars")
    last_ns = int(both.index[-1].value)
    err = float(((both["session"] - both["research"]).abs() / both["research"].abs()).max())
    return SessionEquity(paper, both, last_ns, err)


def report_fields(
    session_id: str,
    row: dict[str, Any],
    strategy: str,
    timeframe: str,
    init_cash: float,
    costs: Any,
    equity: SessionEquity,
    table: pd.DataFrame,
    tf_ns: int,
    orders: tuple[set[Any], set[Any]],
) -> dict[str, Any]:
    """The fields of a `DivergenceReport` that one symbol and a portfolio compute alike, from
    the session's `equity` (`session_equity`), its fill table, and the (research, session)
    `orders` keys."""
    paper, both, _, err = equity
    r_orders, s_orders = orders
    return dict(
        session_id=session_id,
        mode=str(row["mode"]),
        strategy=strategy,
        timeframe=timeframe,
        bars=len(paper),
        compared=len(both),
        init_cash=init_cash,
        fee=float(costs.fee),
        slippage=float(costs.slippage),
        session_final=float(both["session"].iloc[-1]),
        research_final=float(both["research"].iloc[-1]),
        tracking_error=err,
        **fill_statistics(table, both, paper, tf_ns),
        research_orders=len(r_orders),
        session_orders=len(s_orders),
        matched=len(r_orders & s_orders),
        missed=len(r_orders - s_orders),
        extra=len(s_orders - r_orders),
        fill_table=table,
    )


def divergence(
    ledger: Any,
    session_id: str,
    *,
    strategy: Any = None,
    costs: Any = None,
) -> DivergenceReport:
    """Compare the recorded session `session_id` with the research backtest of its bars.

    `strategy` defaults to the one the session recorded; `costs` (the research assumption)
    to the costs the session recorded."""
    from nzeza.feeds.bars import timeframe_ns
    from nzeza.research.backtest import simulate, simulate_policy

    row, cfg = session_config(ledger, session_id)
    strategy = strategy if strategy is not None else session_strategy(row, cfg)
    costs = costs or recorded_costs(cfg)
    timeframe = str(cfg.get("timeframe", "5s"))
    tf_ns = timeframe_ns(timeframe)
    init_cash = float(cfg.get("init_cash", 10_000.0))
    trades, bars = session_market(cfg)
    if len(bars) < 2:
        raise ValidationError("session", session_id, "its feed has fewer than two bars")

    # research: the backtest of these bars under the research costs
    raw = strategy.targets(bars) if hasattr(strategy, "targets") else strategy.target(bars)
    vt = _vol_targeting(cfg)
    if vt is not None:
        raw = vt.scale_series(raw, bars["close"])
    targets = np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=0.0)
    policy = recorded_policy(cfg)
    if is_perpetual(cfg):  # research is backtest_perp's rule with the funding it booked
        sim = research_perp(targets, bars, costs, init_cash, cfg, ledger, session_id)
    elif policy is None:
        sim = simulate(
            targets,
            bars["open"].to_numpy(np.float64),
            bars["close"].to_numpy(np.float64),
            costs,
            init_cash,
        )
    else:  # the session placed limit, post-only or stop orders: research runs the same policy
        sim = simulate_policy(targets, bars, costs, init_cash, policy)
    research = pd.Series(sim.equity, index=bars.index)

    # the session's equity, one snapshot per closed bar
    equity = session_equity(ledger, session_id, research)
    last_ns = equity.last_ns

    # trades: research orders and session decisions by (decision bar, side)
    fill_bars = np.asarray(sim.fills["bar"], dtype=np.int64)
    r_orders = {
        (int(bars.index[b - 1].value), "buy" if s == 0 else "sell")
        for b, s in zip(fill_bars, sim.fills["side"], strict=True)
        if b >= 1 and int(bars.index[b - 1].value) < last_ns
    }
    intents = {i["client_order_id"]: i for i in ledger.intents(session_id)}
    fills = [f for f in ledger.fills(session_id) if f.ts <= last_ns + tf_ns]
    owner = {f.order_id: _intent_of(f.order_id, intents) for f in fills}
    s_orders = {(int(i["bar_ts"]), str(i["side"])) for i in owner.values() if i is not None} | {
        (int(_floor(f.ts, tf_ns) - tf_ns), str(f.side)) for f in fills if owner[f.order_id] is None
    }
    s_orders = {o for o in s_orders if o[0] < last_ns}

    # fills: realised costs and latency against the research reference
    rows = []
    price_at = trades["price"].sort_index(kind="stable")  # asof needs time order
    for f in fills:
        intent = owner[f.order_id]
        bar_ts = int(intent["bar_ts"]) if intent is not None else _floor(f.ts, tf_ns) - tf_ns
        ref = float(bars["open"].get(pd.Timestamp(bar_ts + tf_ns, unit="ns", tz="UTC"), math.nan))
        market = float(price_at.asof(pd.Timestamp(int(f.ts), unit="ns", tz="UTC")))
        rows.append(fill_row(f, bar_ts, tf_ns, ref, market, costs))
    table = pd.DataFrame(rows)
    perp = perp_report(ledger, session_id, cfg, sim, bars, last_ns) if is_perpetual(cfg) else None
    return DivergenceReport(
        **report_fields(
            session_id,
            row,
            f"{row['strategy']} {row['params']}",
            timeframe,
            init_cash,
            costs,
            equity,
            table,
            tf_ns,
            (r_orders, s_orders),
        ),
        perp=perp,
    )


def _floor(ts: int, tf_ns: int) -> int:
    return int(ts) // tf_ns * tf_ns


def _intent_of(client_order_id: str, intents: dict[str, dict[str, Any]]) -> dict | None:
    """The intent a fill belongs to (a TWAP child's id extends its parent's)."""
    if client_order_id in intents:
        return intents[client_order_id]
    best = None
    for coid, intent in intents.items():
        if client_order_id.startswith(coid) and (best is None or len(coid) > len(best[0])):
            best = (coid, intent)
    return best[1] if best else None


__all__ = [
    "COMPONENTS",
    "DivergenceReport",
    "SessionEquity",
    "divergence",
    "fill_row",
    "fill_statistics",
    "recorded_costs",
    "recorded_policy",
    "report_fields",
    "session_config",
    "session_equity",
    "session_market",
]
