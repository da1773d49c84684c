"""SmaCross on nautilus_trader, for bench_engine.py. Runs in benchmarks/.venv-nautilus (its own
pandas < 3), never imports nzeza; reads the bars from a Parquet file and prints one JSON line.

    benchmarks/.venv-nautilus/bin/python benchmarks/peer_nautilus.py BARS.parquet \\
        --fast 10 --slow 30 --fee 0.001 --slippage 0.0005 --cash 10000 --repeat 3

The same strategy and fill convention as nzeza: SMA(fast) and SMA(slow) of closes updated at
each bar's close (nautilus `SimpleMovingAverage`), long while fast > slow, flat otherwise. The
order is sized and sent at the next bar's open and fills there: each bar is preceded by a quote
at its open, bid = open × (1 − slippage), ask = open × (1 + slippage), so a market buy fills at
open × (1 + slippage) and a sell at open × (1 − slippage); the fee is the instrument's taker fee
(a `CurrencyPair` BTC/USD, 0.01 price tick, 1e-8 size step) on a cash account (USD + BTC). Bars are
stamped at their close (open time + 1 h), quotes 1 ns after the previous close.

Timed end to end per run: a new `BacktestEngine` (logging bypassed, analysis off), the
instrument, venue, bars and quotes built with nautilus's wranglers, the strategy, `run()`.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from decimal import Decimal

import pandas as pd
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.model.currencies import BTC, USD
from nautilus_trader.model.data import Bar, BarType, QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler, QuoteTickDataWrangler
from nautilus_trader.trading.strategy import Strategy

VENUE = Venue("SIM")


def instrument(fee: float) -> CurrencyPair:
    return CurrencyPair(
        instrument_id=InstrumentId(Symbol("BTC/USD"), VENUE),
        raw_symbol=Symbol("BTC/USD"),
        base_currency=BTC,
        quote_currency=USD,
        price_precision=2,
        size_precision=8,
        price_increment=Price.from_str("0.01"),
        size_increment=Quantity.from_str("0.00000001"),
        ts_event=0,
        ts_init=0,
        maker_fee=Decimal(str(fee)),
        taker_fee=Decimal(str(fee)),
    )


class SmaCrossConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType
    fast: int = 10
    slow: int = 30
    fee: float = 0.001


class SmaCross(Strategy):
    def __init__(self, config: SmaCrossConfig) -> None:
        super().__init__(config)
        self.fast = SimpleMovingAverage(config.fast)
        self.slow = SimpleMovingAverage(config.slow)
        self.target = 0
        self.pending: int | None = None
        self.orders_sent = 0

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        self.register_indicator_for_bars(self.config.bar_type, self.fast)
        self.register_indicator_for_bars(self.config.bar_type, self.slow)
        self.subscribe_bars(self.config.bar_type)
        self.subscribe_quote_ticks(self.config.instrument_id)

    def on_bar(self, bar: Bar) -> None:  # at the close: decide
        ready = self.fast.initialized and self.slow.initialized
        target = 1 if ready and self.fast.value > self.slow.value else 0
        if target != self.target:
            self.target = target
            self.pending = target

    def on_quote_tick(self, tick: QuoteTick) -> None:  # at the next open: size and send
        if self.pending is None:
            return
        target, self.pending = self.pending, None
        if target == 1:
            cash = float(self.portfolio.account(VENUE).balance_free(USD).as_double())
            qty = math.floor(cash / (tick.ask_price.as_double() * (1 + self.config.fee)) * 1e8)
            if qty > 0:
                self.submit_order(
                    self.order_factory.market(
                        self.config.instrument_id,
                        OrderSide.BUY,
                        Quantity(qty / 1e8, 8),
                    )
                )
                self.orders_sent += 1
        else:
            position = self.portfolio.net_position(self.config.instrument_id)
            if position > 0:
                self.submit_order(
                    self.order_factory.market(
                        self.config.instrument_id,
                        OrderSide.SELL,
                        Quantity(float(position), 8),
                    )
                )
                self.orders_sent += 1


def frames(path: str, slippage: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.read_parquet(path)
    opens = raw.index
    bars = raw[["open", "high", "low", "close", "volume"]].copy()
    bars.index = opens + pd.Timedelta(hours=1)  # nautilus stamps a bar at its close
    quotes = pd.DataFrame(
        {
            "bid_price": (raw["open"] * (1 - slippage)).round(2).to_numpy(),
            "ask_price": (raw["open"] * (1 + slippage)).round(2).to_numpy(),
            "bid_size": 1_000.0,
            "ask_size": 1_000.0,
        },
        index=opens + pd.Timedelta(1, "ns"),
    )
    return bars, quotes


def run_once(args: argparse.Namespace, bars_df: pd.DataFrame, quotes_df: pd.DataFrame) -> dict:
    t0 = time.perf_counter()
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("BENCH-001"),
            logging=LoggingConfig(bypass_logging=True),
            run_analysis=False,
        )
    )
    inst = instrument(args.fee)
    engine.add_venue(
        venue=VENUE,
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=None,  # a spot pair needs a multi-currency cash account
        starting_balances=[Money(args.cash, USD), Money(0, BTC)],
    )
    engine.add_instrument(inst)
    bar_type = BarType.from_str(f"{inst.id}-1-HOUR-LAST-EXTERNAL")
    engine.add_data(BarDataWrangler(bar_type, inst).process(bars_df.copy()))
    engine.add_data(QuoteTickDataWrangler(inst).process(quotes_df.copy()))
    strategy = SmaCross(
        SmaCrossConfig(
            instrument_id=inst.id, bar_type=bar_type, fast=args.fast, slow=args.slow, fee=args.fee
        )
    )
    engine.add_strategy(strategy)
    t1 = time.perf_counter()
    engine.run()
    t2 = time.perf_counter()
    account = engine.portfolio.account(VENUE)
    btc = account.balance_total(BTC)
    position = btc.as_double() if btc is not None else 0.0
    last_close = float(bars_df["close"].iloc[-1])
    out = {
        "total_s": t2 - t0,
        "setup_s": t1 - t0,
        "run_s": t2 - t1,
        "orders": strategy.orders_sent,
        "fills": len(engine.cache.orders_closed()),
        "closed_trades": sum(o.side == OrderSide.SELL for o in engine.cache.orders_closed()),
        "final_equity": account.balance_total(USD).as_double() + position * last_close,
    }
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bars")
    ap.add_argument("--fast", type=int, default=10)
    ap.add_argument("--slow", type=int, default=30)
    ap.add_argument("--fee", type=float, default=0.001)
    ap.add_argument("--slippage", type=float, default=0.0005)
    ap.add_argument("--cash", type=float, default=10_000.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    bars_df, quotes_df = frames(args.bars, args.slippage)
    runs = []
    for _ in range(args.repeat):
        runs.append(run_once(args, bars_df, quotes_df))
        gc.collect()
    import nautilus_trader

    best = min(runs, key=lambda r: r["total_s"])
    print(
        "RESULT "
        + json.dumps(
            {
                "version": nautilus_trader.__version__,
                "python": sys.version.split()[0],
                "bars": len(bars_df),
                "runs_total_s": [r["total_s"] for r in runs],
                **best,
            }
        )
    )


if __name__ == "__main__":
    main()
