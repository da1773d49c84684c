"""`nzeza strategies`, `nzeza backtest`, `nzeza sweep`, `nzeza validate`, `nzeza trials`.

Every backtest, sweep and validation is registered in the trial registry of the ledger
(`--ledger URL`, default: settings); `validate` records its verdict there too."""

from __future__ import annotations

import argparse
from typing import Any

from nzeza.errors import ValidationError


def _costs(p: argparse.ArgumentParser) -> None:
    from nzeza.cli.args import Given, data_options, maker_taker_options

    data_options(p)
    p.add_argument("--last", type=int, default=None, help="only the last N bars")
    p.add_argument(
        "--fee", action=Given, type=float, default=0.001, help="fee fraction (0.001 = 10 bps)"
    )
    maker_taker_options(p)
    p.add_argument("--slippage", type=float, default=0.0005, help="slippage fraction")
    p.add_argument("--cash", type=float, default=10_000.0)
    p.add_argument(
        "--ledger", default=None, help="ledger URL of the trial registry (default: settings)"
    )


def register(sub: argparse._SubParsersAction) -> None:
    from nzeza.cli.args import perp_options

    s = sub.add_parser(
        "strategies",
        help="list the shipped strategies and your own (given or found in a folder)",
        description="Every command taking a strategy accepts a shipped name, module:Class or "
        "path/to/file.py:Class. Listed here: the shipped ones, each SPEC given, and every "
        "Strategy subclass defined in the *.py files of each --dir.",
    )
    s.add_argument("specs", nargs="*", metavar="SPEC", help="module:Class or path.py:Class")
    s.add_argument(
        "--dir", action="append", default=[], metavar="DIR", help="a folder of strategy files"
    )
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(handler=_strategies)

    b = sub.add_parser("backtest", help="backtest one strategy on a sample or your own bars")
    b.add_argument("strategy", help="a registered name or module:Class")
    b.add_argument("--params", nargs="*", default=[], metavar="K=V")
    _costs(b)
    from nzeza.cli.args import order_options

    order_options(b)
    b.add_argument("--html", default=None, help="write the plotly report here")
    perp_options(b)
    b.set_defaults(handler=_backtest)

    w = sub.add_parser("sweep", help="backtest a parameter grid (vectorized)")
    w.add_argument("strategy", help="a registered name or module:Class")
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
    perp_options(w)
    order_options(w)
    w.set_defaults(handler=_sweep)

    v = sub.add_parser(
        "validate",
        help="sweep + walk-forward + verdict (KILL / ITERATE / SCALE), recorded in the ledger",
        description=(
            "Registers every combination of the grid as a trial of its group (strategy family, "
            "data set, timeframe), walks forward, and decides from the deflated Sharpe over the "
            "group's distinct trials, PBO (CSCV) and CPCV over their returns. The verdict is "
            "recorded in the ledger, the only place the promotion gate reads it from."
        ),
    )
    v.add_argument("strategy", help="a registered name or module:Class")
    v.add_argument(
        "--grid",
        nargs="+",
        default=None,
        metavar="K=SPEC",
        help="as for sweep (default: the strategy's search_space)",
    )
    _costs(v)
    v.add_argument(
        "--train",
        type=int,
        default=None,
        help=f"training window, bars (default {TRAIN} when the data hold 3 test windows after it, "
        "else 40%% of the bars)",
    )
    v.add_argument(
        "--test", type=int, default=None, help=f"test window, bars (default {TEST}, else 20%%)"
    )
    v.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    perp_options(v)
    order_options(v)
    v.set_defaults(handler=_validate)

    la = sub.add_parser(
        "lookahead",
        help="does a strategy's target use future bars? (truncated histories vs the full run)",
        description="Recomputes the target on histories cut at many points and compares each "
        "with the full run; exit 1 naming the first bar whose target changes when the future is "
        "removed.",
    )
    la.add_argument("strategy", help="a registered name, module:Class or path/to/file.py:Class")
    la.add_argument("--params", nargs="*", default=[], metavar="K=V")
    from nzeza.cli.args import data_options

    data_options(la)
    la.add_argument("--bars", type=int, default=3000, help="the last N bars (default 3000)")
    la.add_argument("--cuts", type=int, default=40, help="truncated histories to compare")
    la.set_defaults(handler=_lookahead)

    t = sub.add_parser(
        "trials",
        help="the trial registry: groups (family, data set, timeframe) and their trial counts",
    )
    t.add_argument("--strategy", default=None, help="one strategy (name or module:Class)")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.add_argument("--ledger", default=None, help="ledger URL (default: settings)")
    t.set_defaults(handler=_trials)


TRAIN, TEST = 24 * 180, 24 * 60  # half a year to choose, two months to test (hourly bars)


def windows_for(n_bars: int, train: int | None, test: int | None) -> tuple[int, int]:
    """The walk-forward windows: as given, else the defaults when the data hold a training
    window and three test windows, else scaled to the data (40 % to train, 20 % per test
    window: three windows), so a short file or daily bars validate without flags."""
    if train is not None and test is not None:
        return train, test
    if n_bars >= TRAIN + 3 * TEST:
        return (train or TRAIN), (test or TEST)
    scaled_test = test or max(n_bars // 5, 1)
    return (train or max(2 * scaled_test, 1)), scaled_test


def grid_for(cls: Any, items: list[str] | None) -> dict[str, list]:
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
            nums = [x for x in parts if isinstance(x, int | float)]
            if len(parts) != 3 or len(nums) != 3 or nums[2] <= 0:
                raise ValidationError(f"grid[{key}]", spec, "must be start:stop:step, step > 0")
            start, stop, step = nums
            values, v = [], start
            while v <= stop + 1e-12:
                values.append(v)
                v = v + step
            grid[key] = values
        else:
            grid[key] = [num(x) for x in spec.split(",") if x]
    return grid


def _bars(args: argparse.Namespace):
    """The flags checked (cash, costs: one error naming the flag), then the bars."""
    from nzeza.cli.args import cash, common_costs, load_bars

    args.cash = cash(args.cash)
    common_costs(args)
    return load_bars(args, last=args.last)


def _panel(args: argparse.Namespace):
    """The flags checked as for `_bars`, then every symbol of the data as a panel (for a
    portfolio strategy)."""
    from nzeza.cli.args import cash, common_costs, load_panel_bars

    args.cash = cash(args.cash)
    common_costs(args)
    return load_panel_bars(args, last=args.last)


def _fmt(frame) -> str:
    """A table for people: numbers rounded (nzeza.cli.show; `--json` keeps full precision)."""
    from nzeza.cli.show import table

    return table(frame)


def _strategies(args: argparse.Namespace) -> int:
    import json

    from nzeza.strategies import list_strategies
    from nzeza.strategies.loading import discover, strategy_class

    extra = [(spec, strategy_class(spec)) for spec in args.specs]
    for folder in args.dir:
        extra += discover(folder)
    rows = list_strategies(extra)
    if args.json:
        print(json.dumps({"strategies": rows}, default=str))
        return 0
    width = max(22, *(len(str(s["name"])) + 1 for s in rows))
    for s in rows:
        params = ", ".join(f"{k}={v!r}" for k, v in s["params"].items())
        print(f"{s['name']:{width}s} {s['description']}\n{'':{width}s} {params}")
    if not extra:
        print(
            "\nyour own: nzeza strategies path/to/my_strategy.py:MyStrat, or --dir FOLDER "
            "(see docs/strategies.md)"
        )
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from nzeza.cli.args import bars_label, costs_from, order_policy_from
    from nzeza.engine.runner import resolve_strategy
    from nzeza.research import backtest
    from nzeza.strategies import is_portfolio

    strategy, _, _ = resolve_strategy(args.strategy, args.params)
    if is_portfolio(strategy):
        return _backtest_portfolio(args, strategy)
    orders = order_policy_from(args)
    from nzeza.cli.args import perp_spec

    spec = perp_spec(args)  # None without --perp (--funding alone is refused)
    if spec is not None:
        if orders is not None and not orders.is_market:
            raise ValidationError(
                "--order-type", orders.kind, "perpetual backtests fill market orders only"
            )
        return _backtest_perp(args, strategy, spec)
    bars = _bars(args)
    costs = costs_from(args)
    result = backtest(strategy, bars, costs, args.cash, ledger=args.ledger, orders=orders)
    print(
        f"{strategy!r} on {bars_label(bars)}: {len(bars):,} bars "
        f"{bars.index[0]:%Y-%m-%d %H:%M} → {bars.index[-1]:%Y-%m-%d %H:%M}"
    )
    print(_registered(result.registration))
    print(_fmt(result.stats.to_frame("value")))
    if result.policy is not None and not result.policy.is_market:
        o = result.orders
        print(
            f"\n{result.policy.kind} orders (offset {result.policy.offset:g}, ttl "
            f"{result.policy.ttl}): {len(o)} placed, "
            + ", ".join(f"{n} {s}" for s, n in o["status"].value_counts().items())
            + "; fills "
            + ", ".join(f"{n} {s}" for s, n in o["liquidity"].value_counts().items())
        )
    print(f"\nlast trades:\n{_fmt(result.trades.tail(5))}")
    if args.html:
        result.plot().write_html(args.html, include_plotlyjs=True)
        print(f"report: {args.html}")
    return 0


def _backtest_perp(args: argparse.Namespace, strategy: Any, spec: Any) -> int:
    """One strategy on the bars as a perpetual: leverage, funding, liquidation."""
    from nzeza.cli.args import bars_label, costs_from
    from nzeza.research.perp import backtest_perp

    bars = _bars(args)
    costs = costs_from(args)
    result = backtest_perp(
        strategy, bars, spec, costs, args.cash, leverage=args.leverage,
        funding=args.funding_rates, ledger=args.ledger,
    )  # fmt: skip
    print(
        f"{strategy!r} on {bars_label(bars)} as a {spec.venue} perpetual at {args.leverage:g}×: "
        f"{len(bars):,} bars {bars.index[0]:%Y-%m-%d %H:%M} → {bars.index[-1]:%Y-%m-%d %H:%M}"
    )
    print(_registered(result.registration))
    print(_fmt(result.stats.to_frame("value")))
    times = len(result.funding)
    print(
        f"\nfunding: {times:,} funding times, paid {result.funding_paid:,.2f}, received "
        f"{result.funding_received:,.2f} {spec.quote}"
        + ("" if args.funding_rates is not None else " (no --funding file: none applied)")
    )
    liq = result.liquidations
    print(f"liquidations: {len(liq)}")
    if len(liq):
        print(_fmt(liq))
    print(f"\nlast trades:\n{_fmt(result.trades.tail(5))}")
    if args.html:
        result.plot().write_html(args.html, include_plotlyjs=True)
        print(f"report: {args.html}")
    return 0


def _backtest_portfolio(args: argparse.Namespace, strategy: Any) -> int:
    """A portfolio strategy on every symbol of the panel, with one shared cash account."""
    from nzeza.cli.args import costs_from
    from nzeza.research.portfolio import backtest_portfolio

    panel = _panel(args)
    costs = costs_from(args)
    result = backtest_portfolio(strategy, panel, costs, args.cash, ledger=args.ledger)
    name = panel.attrs.get("sample") or "panel"
    print(
        f"{strategy!r} on {name} ({', '.join(result.symbols)}), shared cash: {len(panel):,} "
        f"bars {panel.index[0]:%Y-%m-%d %H:%M} → {panel.index[-1]:%Y-%m-%d %H:%M}"
    )
    print(_registered(result.registration))
    print(f"\nper symbol:\n{_fmt(result.per_symbol())}")
    print(f"\ntotal (portfolio):\n{_fmt(result.stats.to_frame('value'))}")
    print(f"\nlast trades:\n{_fmt(result.trades.tail(5))}")
    if args.html:
        result.plot().write_html(args.html, include_plotlyjs=True)
        print(f"report: {args.html}")
    return 0


def _registered(registration) -> str:
    from nzeza.research.trials import describe

    return describe(registration) if registration is not None else "trial registry: not registered"


def _sweep(args: argparse.Namespace) -> int:
    from nzeza.cli.args import costs_from, order_policy_from
    from nzeza.engine.runner import resolve_class
    from nzeza.research import sweep
    from nzeza.research.portfolio import sweep_portfolio
    from nzeza.strategies import is_portfolio

    cls, _ = resolve_class(args.strategy)
    grid = grid_for(cls, args.grid)
    costs = costs_from(args)
    orders = order_policy_from(args)
    perp = _perp_setup(args, cls)
    if perp is not None:  # a loop of backtest_perp, in this process
        if args.scheduler:
            raise ValidationError(
                "--scheduler", args.scheduler, "perpetual sweeps run in this process only"
            )
        if orders is not None and not orders.is_market:
            raise ValidationError(
                "--order-type", orders.kind, "perpetual sweeps run market orders only"
            )
        from nzeza.research.perp_sweep import PERP_SWEEP_COLUMNS, sweep_perp

        table = sweep_perp(cls, _bars(args), grid, perp, costs, args.cash, ledger=args.ledger)
        extra = PERP_SWEEP_COLUMNS
    elif is_portfolio(cls):  # a loop of portfolio backtests on the panel, in this process
        if args.scheduler:
            raise ValidationError(
                "--scheduler", args.scheduler, "portfolio sweeps run in this process only"
            )
        if orders is not None and not orders.is_market:
            raise ValidationError(
                "--order-type", orders.kind, "portfolio sweeps run market orders only"
            )
        panel = _panel(args)
        table = sweep_portfolio(cls, panel, grid, costs, args.cash, ledger=args.ledger)
    else:
        if args.scheduler and orders is not None and not orders.is_market:
            raise ValidationError(
                "--scheduler",
                args.scheduler,
                "a limit, post-only or stop sweep runs in this process (one backtest each)",
            )
        table = sweep(
            cls,
            _bars(args),
            grid,
            costs,
            args.cash,
            ledger=args.ledger,
            scheduler=args.scheduler,
            orders=orders,
        )
    cols = [c for c in table.columns if c in grid] + [
        "sharpe",
        "total_return",
        "max_drawdown",
        "trades",
        "exposure",
    ]
    if perp is not None:
        cols += extra
        print(_perp_line(perp))
    print(
        f"{table.attrs['n_trials']} combinations tried ({table.attrs['rejected']} invalid skipped)"
    )
    print(_registered(table.attrs["registration"]))
    print(_fmt(table[cols].head(args.top)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    import json

    from nzeza.cli.args import costs_from, order_policy_from
    from nzeza.engine.runner import resolve_class
    from nzeza.research import check_lookahead, walk_forward
    from nzeza.research.verdict import finite
    from nzeza.store import open_ledger
    from nzeza.strategies import is_portfolio

    cls, _ = resolve_class(args.strategy)
    perp = _perp_setup(args, cls)
    orders = order_policy_from(args)
    if perp is not None and orders is not None and not orders.is_market:
        raise ValidationError(
            "--order-type", orders.kind, "perpetual validation runs market orders"
        )
    bars = _panel(args) if is_portfolio(cls) else _bars(args)  # a portfolio: the whole panel
    grid = grid_for(cls, args.grid)
    train, test = windows_for(len(bars), args.train, args.test)
    if (train, test) != (args.train, args.test) and not args.json:
        print(f"walk-forward windows: train {train} bars, test {test} bars (--train/--test)")
    with open_ledger(args.ledger) as ledger:
        wf = walk_forward(
            cls,
            bars,
            grid,
            train,
            test,
            costs=costs_from(args),
            init_cash=args.cash,
            progress=not args.json,  # tqdm on stderr: windows and their sweeps
            ledger=ledger,
            perp=perp,
            orders=orders,
        )
    last = {k: wf.windows.iloc[-1][k] for k in grid}
    last = {k: (v.item() if hasattr(v, "item") else v) for k, v in last.items()}
    lookahead = check_lookahead(cls(**last), bars.iloc[-3000:], progress=not args.json)
    v = wf.judged
    if args.json:
        m = v.metrics
        doc = {
            "decision": v.decision,
            "n_trials": m["n_trials"],
            "deflated_sharpe": m["deflated_sharpe"],
            "pbo": m["pbo"],
            "reasons": v.reasons,
            "verdict_id": v.id,
            "strategy": m["strategy"],
            "family": m["family"],
            "identity": m["identity"],
            "params": m["params"],
            "params_hash": m["params_hash"],
            "group": m["group"],
            "data_range": m["data_range"],
            "var_trials": m["var_trials"],
            "combinations": wf.combinations,
            "windows": len(wf.windows),
            "lookahead_ok": lookahead.ok,
            "perp": None if perp is None else _perp_doc(perp, wf.windows),
            "registration": _registration_doc(wf.registration),
            "metrics": m,
        }
        print(json.dumps(finite(doc), allow_nan=False, default=str))
        return 0
    print(_registered(wf.registration))
    print(f"walk-forward: {len(wf.windows)} windows, {wf.combinations} combinations per window")
    print(_fmt(wf.windows.drop(columns=["train_start"])))
    if perp is not None:
        doc = _perp_doc(perp, wf.windows)
        print(
            f"{_perp_line(perp)}; out of sample: funding {doc['oos_funding']:+,.2f} (net, "
            f"in the returns), liquidations {doc['oos_liquidations']}"
        )
    print(lookahead)
    print(v)
    return 0


def _perp_setup(args: argparse.Namespace, cls: Any) -> Any:
    """The `PerpSetup` of the perp flags (None without --perp); refused for portfolios (a
    strategy with its own non-market order policy is refused by `backtest_perp`)."""
    from nzeza.cli.args import perp_spec
    from nzeza.strategies import is_portfolio

    spec = perp_spec(args)  # None without --perp (--funding alone is refused)
    if spec is None:
        return None
    if is_portfolio(cls):
        raise ValidationError("--perp", args.perp, "portfolio strategies trade spot bars")
    from nzeza.research.perp import PerpSetup

    return PerpSetup(spec, args.leverage, args.funding_rates)


def _perp_line(perp: Any) -> str:
    funding = "no --funding: none applied" if perp.funding is None else "funding applied"
    return (
        f"perpetual ({perp.spec.venue}, {perp.leverage:g}×, mmr "
        f"{perp.spec.maintenance_margin_rate}, {funding})"
    )


def _perp_doc(perp: Any, windows: Any) -> dict[str, Any]:
    return {
        **perp.terms["perp"],
        "oos_funding": float(windows["oos_funding"].sum()),
        "oos_liquidations": int(windows["oos_liquidations"].sum()),
    }


def _lookahead(args: argparse.Namespace) -> int:
    from nzeza.cli.args import bars_label, load_bars, load_panel_bars, whole
    from nzeza.engine.runner import resolve_strategy
    from nzeza.research import check_lookahead
    from nzeza.strategies import is_portfolio
    from nzeza.strategies.portfolio import panel_symbols

    cuts = whole("--cuts", args.cuts, 1, 10_000)
    strategy, _, _ = resolve_strategy(args.strategy, args.params)
    if is_portfolio(strategy):  # its weights, every symbol of the panel
        bars = load_panel_bars(args, last=args.bars, flag="--bars")
        label = f"{bars.attrs.get('sample') or 'panel'} ({', '.join(panel_symbols(bars))})"
    else:
        bars = load_bars(args, last=args.bars, flag="--bars")
        label = bars_label(bars)
    report = check_lookahead(strategy, bars, n_cuts=cuts, progress=True)
    print(f"{strategy!r} on {label}, last {len(bars):,} bars: {report}")
    return 0 if report.ok else 1


def _registration_doc(reg) -> dict | None:
    if reg is None:
        return None
    return {
        "run_id": reg.run_id,
        "offered": reg.offered,
        "new": reg.new,
        "group_was_new": reg.group_was_new,
        "distinct": reg.distinct,
    }


def _family(spec: str) -> str:
    """The family (class path) of a strategy spec; a `module:Class` that no longer imports is
    taken as written (its trials stay listed)."""
    from nzeza.engine.runner import resolve_class
    from nzeza.strategies.identity import class_path

    try:
        cls, _ = resolve_class(spec)
    except ValidationError:
        if ":" in spec:
            return spec
        raise
    return class_path(cls)


def _trials(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from nzeza.store import open_ledger
    from nzeza.store.trials import groups

    family = _family(args.strategy) if args.strategy else None
    with open_ledger(args.ledger) as ledger:
        rows = groups(ledger, family)
    total = sum(g["distinct_trials"] for g in rows)
    if args.json:
        print(json.dumps({"groups": rows, "n_groups": len(rows), "n_trials": total}))
        return 0
    if not rows:
        print("no trials registered" + (f" for {family}" if family else ""))
        return 0

    def when(ns: int) -> str:
        return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%d %H:%M")

    frame = pd.DataFrame(
        {
            "family": [g["family"] for g in rows],
            "dataset": [g["dataset"] for g in rows],
            "timeframe": [g["timeframe"] for g in rows],
            "bars": [
                f"{g['n_bars']:,} {when(g['data_start_ns'])} → {when(g['data_end_ns'])}"
                for g in rows
            ],
            "trials": [g["distinct_trials"] for g in rows],
            "sharpe_var": [g["sharpe_variance"] for g in rows],
            "newest": [when(g["newest_ns"]) for g in rows],
        }
    )
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(frame.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print(f"{len(rows)} group(s), {total} distinct trial(s)")
    return 0


__all__ = [
    "grid_for",
    "parse_grid",
    "register",
]
