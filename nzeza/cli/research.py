"""`nzeza strategies`, `nzeza backtest`, `nzeza sweep`, `nzeza validate`."""

from __future__ import annotations

import argparse

from nzeza.errors import ValidationError


def _costs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample", default="btc_usd_1h", help="bundled sample (nzeza data samples)")
    p.add_argument("--symbol", default=None, help="symbol inside a multi-symbol sample")
    p.add_argument("--last", type=int, default=None, help="only the last N bars")
    p.add_argument("--fee", type=float, default=0.001, help="fee fraction (0.001 = 10 bps)")
    p.add_argument("--slippage", type=float, default=0.0005, help="slippage fraction")
    p.add_argument("--cash", type=float, default=10_000.0)


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("strategies", help="list the shipped strategies and their parameters")
    s.set_defaults(handler=_strategies)

    b = sub.add_parser("backtest", help="backtest one strategy on a bundled sample")
    b.add_argument("strategy")
    b.add_argument("--params", nargs="*", default=[], metavar="K=V")
    _costs(b)
    b.add_argument("--html", default=None, help="write the plotly report here")
    b.set_defaults(handler=_backtest)

    w = sub.add_parser("sweep", help="backtest a parameter grid (vectorized)")
    w.add_argument("strategy")
    w.add_argument(
        "--grid",
        nargs="+",
        default=None,
        metavar="K=SPEC",
        help="fast=5:50:5 (start:stop:step, stop inclusive) or slow=20,40,80 "
        "(default: the strategy's search_space)",
    )
    _costs(w)
    w.add_argument("--top", type=int, default=10)
    w.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR",
        help="run the grid's chunks on Dask: 'processes' (local worker processes) or an "
        "existing scheduler, tcp://host:8786 (default: this process)",
    )
    w.set_defaults(handler=_sweep)

    v = sub.add_parser("validate", help="sweep + walk-forward + verdict (KILL / ITERATE / SCALE)")
    v.add_argument("strategy")
    v.add_argument(
        "--grid",
        nargs="+",
        default=None,
        metavar="K=SPEC",
        help="as for sweep (default: the strategy's search_space)",
    )
    _costs(v)
    v.add_argument("--train", type=int, default=24 * 180, help="training window, bars")
    v.add_argument("--test", type=int, default=24 * 60, help="test window, bars")
    v.set_defaults(handler=_validate)


def grid_for(cls: type, items: list[str] | None) -> dict[str, list]:
    """The grid given on the command line, or the strategy's own search space."""
    if items:
        return parse_grid(items)
    if not cls.search_space:
        raise ValidationError("grid", None, f"{cls.name} has no search_space; give --grid")
    return dict(cls.search_space)


def parse_grid(items: list[str]) -> dict[str, list]:
    from nzeza.errors import ValidationError

    grid: dict[str, list] = {}
    for item in items:
        key, sep, spec = item.partition("=")
        if not sep:
            raise ValidationError("grid", item, "must be KEY=start:stop:step or KEY=a,b,c")

        def num(x: str) -> float | int | str:
            for cast in (int, float):
                try:
                    return cast(x)
                except ValueError:
                    continue
            return x

        if ":" in spec:
            parts = [num(x) for x in spec.split(":")]
            if (
                len(parts) != 3
                or not all(isinstance(x, int | float) for x in parts)
                or parts[2] <= 0
            ):
                raise ValidationError(f"grid[{key}]", spec, "must be start:stop:step, step > 0")
            start, stop, step = parts
            values, v = [], start
            while v <= stop + 1e-12:
                values.append(v)
                v = v + step
            grid[key] = values
        else:
            grid[key] = [num(x) for x in spec.split(",") if x]
    return grid


def _bars(args: argparse.Namespace):
    from nzeza.data import load_sample

    bars = load_sample(args.sample, symbol=args.symbol)
    return bars.iloc[-args.last :] if args.last else bars


def _fmt(frame) -> str:
    import pandas as pd

    with pd.option_context(
        "display.width", 160, "display.max_columns", 30, "display.float_format", "{:,.4f}".format
    ):
        return frame.to_string()


def _strategies(args: argparse.Namespace) -> int:
    from nzeza.strategies import list_strategies

    for s in list_strategies():
        params = ", ".join(f"{k}={v!r}" for k, v in s["params"].items())
        print(f"{s['name']:22s} {s['description']}\n{'':22s} {params}")
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from nzeza.domain import Costs
    from nzeza.engine.runner import resolve_strategy
    from nzeza.research import backtest

    strategy, _, _ = resolve_strategy(args.strategy, args.params)
    bars = _bars(args)
    result = backtest(strategy, bars, Costs(args.fee, args.slippage), args.cash)
    print(f"{strategy!r} on {args.sample}: {len(bars):,} bars {bars.index[0]} → {bars.index[-1]}")
    print(_fmt(result.stats.to_frame("value")))
    print(f"\nlast trades:\n{_fmt(result.trades.tail(5))}")
    if args.html:
        result.plot().write_html(args.html, include_plotlyjs=True)
        print(f"report: {args.html}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from nzeza.domain import Costs
    from nzeza.research import sweep
    from nzeza.strategies import get_strategy

    cls = get_strategy(args.strategy)
    grid = grid_for(cls, args.grid)
    table = sweep(
        cls, _bars(args), grid, Costs(args.fee, args.slippage), args.cash, scheduler=args.scheduler
    )
    cols = [c for c in table.columns if c in grid] + [
        "sharpe",
        "total_return",
        "max_drawdown",
        "trades",
        "exposure",
    ]
    print(
        f"{table.attrs['n_trials']} combinations tried ({table.attrs['rejected']} invalid skipped)"
    )
    print(_fmt(table[cols].head(args.top)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from nzeza.domain import Costs
    from nzeza.research import check_lookahead, walk_forward
    from nzeza.strategies import get_strategy

    cls = get_strategy(args.strategy)
    bars = _bars(args)
    grid = grid_for(cls, args.grid)
    wf = walk_forward(
        cls,
        bars,
        grid,
        args.train,
        args.test,
        costs=Costs(args.fee, args.slippage),
        init_cash=args.cash,
    )
    print(f"walk-forward: {len(wf.windows)} windows, {wf.n_trials} combinations per window")
    print(_fmt(wf.windows.drop(columns=["train_start"])))
    last = {k: wf.windows.iloc[-1][k] for k in grid}
    last = {k: (v.item() if hasattr(v, "item") else v) for k, v in last.items()}
    print(check_lookahead(cls(**last), bars.iloc[-3000:]))
    print(wf.verdict)
    print(f"recorded: {wf.verdict.record_path}")
    return 0
