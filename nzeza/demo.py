"""The demo: the longest end-to-end path nzeza has, on bundled data, with no network.

settings → domain → data → research pipeline (papermill notebooks on Dask: sweep, walk-forward,
lookahead, verdict per strategy) → a paper session of the best candidate against the websocket
replay server on 127.0.0.1 → promotion gates → one HTML report. Each stage prints what it did
and where its output is; stages share what they found through `State`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the project checkout (notebooks/, pipelines/)
DEMO_COSTS = (0.001, 0.0005)
DEMO_SESSION = "demo-paper"
_DECISION_RANK = {"SCALE": 2, "ITERATE": 1, "KILL": 0}


@dataclass
class State:
    """What the stages found, for the ones after them and for the report."""

    data_report: Any = None
    research: list[dict[str, Any]] = field(default_factory=list)
    research_dir: Path | None = None
    best: dict[str, Any] | None = None
    paper: dict[str, Any] = field(default_factory=dict)
    promotion: Any = None
    live_gates: list[Any] = field(default_factory=list)
    paper_gate: Any = None  # the live promotion's paper gate on the demo's paper session
    grid_of_one: dict[str, Any] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)


STATE = State()
Stage = Callable[[Path, bool], str]


def _stage_settings(out: Path, quick: bool) -> str:
    from nzeza.ops.settings import describe, load_settings

    settings = load_settings(require_live=False)
    shown = describe(settings)
    return f"settings ok: profile={shown['profile']} mode={shown['mode']}"


def _stage_domain(out: Path, quick: bool) -> str:
    from decimal import Decimal

    from nzeza.domain import Fill, Instrument, Portfolio, Side

    btc = Instrument("paper", "BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"))
    pf = Portfolio("USDT", {"USDT": 10_000}, [btc])
    fills = [("buy", "0.1", "60000"), ("sell", "0.15", "61000"), ("buy", "0.05", "59000")]
    for i, (side, qty, px) in enumerate(fills):
        fee = Decimal(qty) * Decimal(px) * Decimal("0.001")
        pf.apply_fill(
            Fill(f"t{i}", f"o{i}", btc.id, Side(side), Decimal(qty), Decimal(px), fee, "USDT", i)
        )
    snap = pf.snapshot()
    equity = snap.equity({btc.id: Decimal("60000")})
    return f"domain ok: 3 fills, realized {snap.realized_pnl():.2f} USDT, equity {equity:.2f} USDT"


def _stage_data(out: Path, quick: bool) -> str:
    from nzeza.data import list_samples, load_sample, validate_ohlcv

    names = list(list_samples()["name"])
    bars = load_sample("btc_usd_1h")
    report = validate_ohlcv(bars, "1h")
    STATE.data_report = report
    (out / "data_report.txt").write_text(str(report) + "\n")
    issues = sum(report.counts.values())
    return (
        f"data ok: {len(names)} bundled samples; btc_usd_1h {len(bars):,} bars, "
        f"{issues} validation issue(s) → {out / 'data_report.txt'}"
    )


def _stage_research(out: Path, quick: bool) -> str:
    """The research pipeline: 03_validate for each strategy of pipelines/research.yaml."""
    from dataclasses import replace

    from nzeza.pipeline import load_spec, run_pipeline

    # the demo's own ledger: its trial registry and verdicts, then its paper session
    for suffix in ("", "-wal", "-shm"):
        (out / ("ledger.sqlite" + suffix)).unlink(missing_ok=True)
    spec_path = ROOT / "pipelines" / "research.yaml"
    if not spec_path.is_file():
        return f"research skipped: {spec_path} not found (run the demo from a project checkout)"
    spec = load_spec(spec_path)
    params = {**spec.parameters, "ledger_url": f"sqlite:///{(out / 'ledger.sqlite').resolve()}"}
    if quick:
        params.update(last_bars=24 * 365, train=24 * 90, test=24 * 45)
    spec = replace(spec, parameters=params, retries=0)
    STATE.research_dir = out / "research"
    records = run_pipeline(spec, output=STATE.research_dir, progress=True)
    STATE.research = records
    ok = [r for r in records if r["status"] == "ok"]
    for r in records:
        m = r["metrics"]
        if r["status"] == "ok":
            print(
                f"      {m.get('strategy', '?'):20s} {m.get('decision', '?'):8s} "
                f"OOS Sharpe {m.get('oos_sharpe', float('nan')):6.2f}  "
                f"deflated {m.get('deflated_sharpe', float('nan')):.2f}  "
                f"{m.get('oos_trades', 0)} OOS trades  params {m.get('params')}"
            )
        else:
            print(f"      {r['params'].get('strategy')}: FAILED {r['error']}")
    if ok:
        best = max(
            ok,
            key=lambda r: (
                _DECISION_RANK.get(r["metrics"].get("decision"), -1),
                r["metrics"].get("deflated_sharpe") or 0.0,
                r["metrics"].get("oos_sharpe") or 0.0,
            ),
        )
        STATE.best = {
            "strategy": best["metrics"]["strategy"],
            "params": json.loads(best["metrics"]["params"]),
            "decision": best["metrics"]["decision"],
        }
    return (
        f"research ok: {len(ok)}/{len(records)} validation notebooks ran; best candidate "
        f"{STATE.best['strategy'] if STATE.best else 'none'} "
        f"({STATE.best['decision'] if STATE.best else '-'}) → {STATE.research_dir}"
    )


def _stage_paper(out: Path, quick: bool) -> str:
    """A paper session of the best candidate over the websocket replay of a real capture."""
    import asyncio

    from nzeza.domain import Costs
    from nzeza.notebook.sessions import paper_over_replay
    from nzeza.ops.metrics import Metrics
    from nzeza.promotion import divergence
    from nzeza.store import Ledger
    from nzeza.strategies import get_strategy

    best = STATE.best or {"strategy": "sma_cross", "params": {"fast": 10, "slow": 30}}
    strategy = get_strategy(best["strategy"])(**best["params"])
    for suffix in ("", "-wal", "-shm"):  # the ledger holds the research stage's verdicts
        (out / ("paper-venue.sqlite" + suffix)).unlink(missing_ok=True)
    ledger = Ledger(f"sqlite:///{out / 'ledger.sqlite'}")
    report = asyncio.run(
        paper_over_replay(
            strategy,
            best["strategy"],
            ledger,
            out / "paper-venue.sqlite",
            session_id=DEMO_SESSION,
            costs=Costs(*DEMO_COSTS),
            metrics=Metrics(),
        )
    )
    # the session against the research backtest of the very bars it saw, at the research costs
    tracking = divergence(ledger, DEMO_SESSION, strategy=strategy, costs=Costs(*DEMO_COSTS))
    ledger.close()

    def median_us(values: list[int]) -> str:
        ordered = sorted(values)
        return f"{ordered[len(ordered) // 2] / 1e3:.0f} µs" if ordered else "n/a (no orders)"

    STATE.paper.update(report=report, tracking=tracking, ledger=out / "ledger.sqlite")
    return (
        f"paper ok: {best['strategy']} {strategy.params} over the websocket replay of the "
        f"Binance BTCUSDT capture: {report.bars} bars (1s), {report.fills} fills, "
        f"{report.rejected} risk rejections, equity {report.final_equity:.2f}, decision→order "
        f"sent P50 {median_us(report.send_latencies_ns)} (→ fills booked "
        f"{median_us(report.decision_latencies_ns)}); vs research on the same bars: gap "
        f"{tracking.gap:+.4f}, tracking error {tracking.tracking_error:.1e}, "
        f"{tracking.matched}/{tracking.research_orders} trades matched, slippage "
        f"{tracking.realised_slippage_bps:.1f} bps (assumed {tracking.slippage * 1e4:.1f})"
    )


def _grid_of_one(ledger: Any, quick: bool) -> dict[str, Any]:
    """The trick the registry stops: sweep a grid, then validate its best point alone as a
    "grid of one". The second verdict counts every trial of the first."""
    from nzeza.data import load_sample
    from nzeza.domain import Costs
    from nzeza.research import walk_forward
    from nzeza.strategies import SmaCross

    bars = load_sample("btc_usd_1h").iloc[-24 * (180 if quick else 240) :]
    kw = dict(costs=Costs(*DEMO_COSTS), progress=False, ledger=ledger)
    sweep = walk_forward(SmaCross, bars, dict(SmaCross.search_space), 24 * 60, 24 * 30, **kw)
    last = sweep.windows.iloc[-1]
    best = {k: int(last[k]) for k in SmaCross.search_space}
    one = walk_forward(SmaCross, bars, {k: [v] for k, v in best.items()}, 24 * 60, 24 * 30, **kw)
    return {
        "params": best,
        "sweep": sweep.judged,
        "one": one.judged,
        "sweep_trials": sweep.judged.metrics["n_trials"],
        "one_trials": one.judged.metrics["n_trials"],
    }


def _stage_promote(out: Path, quick: bool) -> str:
    """The registry against the grid-of-one trick, the promotion of the best candidate to
    paper, the paper gate of a live promotion on the demo's paper session, and the live gates
    as they stand."""
    from nzeza.data import load_sample
    from nzeza.domain import Costs
    from nzeza.notebook.live import live_gates
    from nzeza.promotion import GatePolicy, newest_verdict, paper_gate, promote
    from nzeza.store import Ledger
    from nzeza.store.trials import verdicts
    from nzeza.strategies import get_strategy

    best = STATE.best or {"strategy": "sma_cross", "params": {"fast": 10, "slow": 30}}
    notebook = ROOT / "notebooks" / "04_session.ipynb"
    if not notebook.is_file():
        return f"promotion skipped: {notebook} not found"
    url = f"sqlite:///{out / 'ledger.sqlite'}"
    bars = load_sample("btc_usd_1h").iloc[-(24 * 90 if quick else 24 * 180) :]
    with Ledger(url) as ledger:
        STATE.grid_of_one = _grid_of_one(ledger, quick)
        decision = promote(
            notebook,
            "paper",
            strategy=best["strategy"],
            params=best["params"],
            ledger=ledger,
            bars=bars,
            costs=Costs(*DEMO_COSTS),
        )
        cls = get_strategy(best["strategy"])
        strategy = cls(**best["params"])
        STATE.paper_gate = paper_gate(
            ledger,
            strategy,
            GatePolicy(),
            verdict=newest_verdict(cls, strategy.params, ledger),
            symbol="BTC/USDT",
            costs=Costs(*DEMO_COSTS),
        )()
        STATE.verdicts = verdicts(ledger)
    STATE.promotion = decision
    STATE.live_gates = live_gates(best["strategy"], decision.params, ledger_url=url)
    g1 = STATE.grid_of_one
    print(
        f"    grid of one {g1['params']} after a sweep: {g1['one'].decision} with "
        f"{g1['one_trials']} registered trials counted (the sweep's {g1['sweep_trials']})"
    )
    for line in str(decision).splitlines()[1:]:
        print(f"    {line}")
    print(f"    live promotion's paper gate: {STATE.paper_gate}")
    live = "; ".join(f"{g.name} {'PASS' if g.passed else 'FAIL'}" for g in STATE.live_gates)
    return (
        f"promotion to paper {'PASSED' if decision.passed else 'REFUSED'} "
        f"(record #{decision.record_id}); live: {live}"
    )


def _stage_report(out: Path, quick: bool) -> str:
    """One HTML file: data, research verdicts, the paper session, the gates."""
    import pandas as pd

    from nzeza.notebook.dashboard import equity_figure, session_frames
    from nzeza.notebook.report import Report
    from nzeza.store import Ledger

    rep = Report("nzeza demo report")
    rep.text(
        "Everything below ran on bundled real data, offline: hourly BTC/USD bars for research "
        "and a real Binance BTCUSDT websocket capture replayed over a websocket on 127.0.0.1 "
        "for the paper session."
    )
    rep.heading("1 · Data")
    rep.pre(str(STATE.data_report))
    rep.heading("2 · Research: walk-forward validation per strategy")
    if STATE.research:
        rows = [
            {
                "strategy": r["params"].get("strategy"),
                "status": r["status"],
                "decision": r["metrics"].get("decision"),
                "OOS Sharpe": r["metrics"].get("oos_sharpe"),
                "deflated Sharpe": r["metrics"].get("deflated_sharpe"),
                "trials": r["metrics"].get("n_trials"),
                "OOS trades": r["metrics"].get("oos_trades"),
                "params": r["metrics"].get("params"),
                "notebook": Path(r["html"] or r["notebook"]).name,
            }
            for r in STATE.research
        ]
        rep.table(pd.DataFrame(rows))
        rep.text(f"Executed notebooks and their HTML renderings: {STATE.research_dir}")
    rep.heading("3 · Verdicts in the ledger, with their reasons")
    if STATE.verdicts:
        rep.table(
            pd.DataFrame(
                [
                    {
                        "verdict": f"#{v['id']}",
                        "strategy": v["strategy"],
                        "params": json.dumps(v["params"], sort_keys=True),
                        "decision": v["decision"],
                        "registered trials": v["n_trials"],
                        "deflated Sharpe": v["deflated_sharpe"],
                        "PBO": v["pbo"],
                        "reasons": " · ".join(v["reasons"]),
                    }
                    for v in STATE.verdicts
                ]
            )
        )
    if STATE.grid_of_one:
        g1 = STATE.grid_of_one
        rep.text(
            f"The grid-of-one trick: a sweep of sma_cross ({g1['sweep_trials']} trials, "
            f"{g1['sweep'].decision}), then its best point {g1['params']} validated alone. The "
            f"registry counts the sweep: the grid of one is judged over {g1['one_trials']} "
            f"trials and decided {g1['one'].decision}:"
        )
        rep.pre(str(g1["one"]))
    rep.heading("4 · Paper session of the best candidate")
    if STATE.paper:
        report, tracking = STATE.paper["report"], STATE.paper["tracking"]
        rep.pre(
            f"session {DEMO_SESSION}: {report.bars} bars, {report.fills} fills, "
            f"{report.rejected} risk rejections, final equity {report.final_equity:.4f}"
        )
        with Ledger(f"sqlite:///{STATE.paper['ledger']}") as ledger:
            frames = session_frames(ledger, DEMO_SESSION)
        if len(frames["equity"]):
            rep.figure(equity_figure(frames["equity"]["equity"], f"{DEMO_SESSION} equity"))
        if len(frames["fills"]):
            rep.table(frames["fills"].tail(10).astype(str))
        rep.divergence(tracking)
    rep.heading("5 · Promotion gates")
    if STATE.promotion is not None:
        d = STATE.promotion
        rep.text(
            f"{d.strategy} {d.params} → {d.target}: "
            f"{'PROMOTED' if d.passed else 'REFUSED'} (ledger record #{d.record_id})"
        )
        rep.gates([(g.name, g.passed, g.detail) for g in d.gates])
        if STATE.paper_gate is not None:
            g = STATE.paper_gate
            rep.text("A live promotion would also need the paper gate, on this paper session:")
            rep.gates([(g.name, g.passed, g.detail)])
        rep.text("Live trading, as it stands:")
        rep.gates([(g.name, g.passed, g.detail) for g in STATE.live_gates])
    path = rep.write(out / "report.html")
    return f"report ok → {path.resolve()}"


STAGES: list[tuple[str, Stage]] = [
    ("settings", _stage_settings),
    ("domain", _stage_domain),
    ("data", _stage_data),
    ("research", _stage_research),
    ("paper", _stage_paper),
    ("promote", _stage_promote),
    ("report", _stage_report),
]


def run_demo(out: str | Path | None = None, quick: bool = False) -> int:
    out_dir = Path(out or "runs/demo")
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"nzeza demo → {out_dir.resolve()}")
    t_all = time.perf_counter()
    for name, stage in STAGES:
        t0 = time.perf_counter()
        summary = stage(out_dir, quick)
        print(f"  [{name}] {summary}  ({time.perf_counter() - t0:.1f}s)", flush=True)
    print(f"demo finished in {time.perf_counter() - t_all:.0f}s")
    print(f"  report:             {(out_dir / 'report.html').resolve()}")
    if STATE.research_dir is not None:
        print(f"  executed notebooks: {STATE.research_dir.resolve()}")
        print(f"  open them:          .venv/bin/jupyter lab {STATE.research_dir.resolve()}")
    print(f"  the workflow:       .venv/bin/jupyter lab {ROOT / 'notebooks'}")
    if STATE.paper.get("ledger") is not None:
        import shlex

        from nzeza.pipeline.schedule import nzeza_command

        ledger = Path(STATE.paper["ledger"]).resolve()
        status = [*nzeza_command(), "status", "--ledger", f"sqlite:///{ledger}"]
        # the demo keeps its ledger with its other output, not in the settings' ledger that a
        # bare `nzeza status` reads
        print(f"  ledger:             {ledger} (session {DEMO_SESSION})")
        print(f"  read it:            {shlex.join(status)}")
    return 0


__all__ = [
    "DEMO_COSTS",
    "DEMO_SESSION",
    "ROOT",
    "STAGES",
    "STATE",
    "Stage",
    "State",
    "run_demo",
]
