"""`nzeza pipeline run|status|schedule|serve`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="papermill pipelines over parameter grids, on Dask")
    acts = p.add_subparsers(dest="pipeline_command", metavar="ACTION", required=True)
    run = acts.add_parser("run", help="execute every parameter set of a spec")
    run.add_argument("spec", help="pipeline YAML, e.g. pipelines/research.yaml")
    run.add_argument("--output", default=None, help="output folder (default: the spec's)")
    run.add_argument("--scheduler", default=None, help="existing Dask scheduler, tcp://host:8786")
    run.add_argument(
        "-p",
        "--param",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a parameter for this run (VALUE read as YAML: 500, true, '{a: 1}'); "
        "a grid parameter is narrowed to VALUE",
    )
    run.add_argument(
        "--trigger",
        default="manual",
        choices=("manual", "cron", "serve"),
        help="who started this execution (recorded in the history)",
    )
    run.set_defaults(handler=_run)
    st = acts.add_parser("status", help="read a pipeline's run index and history")
    st.add_argument("target", help="a spec file or an output folder")
    st.set_defaults(handler=_status)
    sc = acts.add_parser("schedule", help="print the crontab line for a spec")
    sc.add_argument("spec")
    sc.set_defaults(handler=_schedule)
    sv = acts.add_parser(
        "serve",
        help="run scheduled pipelines in the foreground (for a container or a systemd unit)",
        description="Starts each pipeline at its cron times (local time zone) until SIGTERM or "
        "SIGINT. An execution still running at its next time is not started twice.",
    )
    sv.add_argument("targets", nargs="+", metavar="DIR|SPEC", help="specs, or folders of specs")
    sv.add_argument(
        "--grace",
        type=float,
        default=60.0,
        help="seconds running executions get to finish after a stop signal (default 60)",
    )
    sv.set_defaults(handler=_serve)


def _overrides(items: list[str]) -> dict:
    import yaml

    from nzeza.errors import ValidationError

    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValidationError("param", item, "must be KEY=VALUE")
        try:
            out[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as exc:
            raise ValidationError(key, raw, f"is not a YAML value: {exc}") from None
    return out


def _print_runs(runs: list[dict]) -> None:
    from nzeza.cli.show import human

    for r in runs:
        metrics = " ".join(f"{k}={human(v)}" for k, v in list(r["metrics"].items())[:4])
        line = f"  {r['status']:6s} {r['duration_s']:7.1f}s  {r['run_id']}  {metrics}"
        if r.get("error"):
            err = r["error"]
            where = f"cell {err.get('cell', '?')}"
            line += f"\n         failed at {where}: {err.get('ename')}: {err.get('evalue')}"
        print(line)


def _run(args: argparse.Namespace) -> int:
    from nzeza.pipeline import load_spec, run_pipeline

    spec = load_spec(args.spec)
    if args.overrides:
        spec = spec.with_overrides(_overrides(args.overrides))
    print(f"pipeline {spec.name}: {len(spec.runs())} runs of {spec.notebook.name}", flush=True)
    runs = run_pipeline(spec, output=args.output, scheduler=args.scheduler, trigger=args.trigger)
    _print_runs(runs)
    failed = sum(r["status"] != "ok" for r in runs)
    out = args.output or spec.output
    print(f"{len(runs) - failed} ok, {failed} failed; index: {out}/index.json")
    return 1 if failed else 0


def _status(args: argparse.Namespace) -> int:
    from datetime import datetime
    from pathlib import Path

    from nzeza.pipeline import load_spec, read_history, read_index

    target = Path(args.target)
    out = load_spec(target).output if target.is_file() else target
    index = read_index(out)
    print(
        f"pipeline {index['pipeline']} ({len(index['runs'])} runs) in {out}, execution "
        f"{index.get('execution', '?')} ({index.get('trigger', 'manual')})"
    )
    _print_runs(index["runs"])
    history = read_history(out)
    if history:
        print(f"last {min(len(history), 5)} of {len(history)} executions:")
        for h in history[-5:]:
            when = datetime.fromtimestamp(h.get("finished", 0)).isoformat(timespec="seconds")
            counts = f"{h['ok']} ok, {h['failed']} failed" if "ok" in h else h.get("reason", "")
            print(f"  {when}  {h.get('trigger', '?'):7s} {h.get('status', '?'):11s} {counts}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from datetime import datetime

    from nzeza.pipeline import crontab_line, fire_times, load_spec

    spec = load_spec(args.spec)
    print(crontab_line(spec))
    nxt = ", ".join(
        t.isoformat(timespec="minutes")
        for t in fire_times(spec.schedule or "", datetime.now().astimezone(), 3)
    )
    print(f"# next: {nxt} (local time); install with `crontab -e`, or run `nzeza pipeline serve`")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from nzeza.errors import ValidationError
    from nzeza.pipeline.serve import Server, find_specs

    if args.grace < 0:
        raise ValidationError("grace", args.grace, "must be >= 0 seconds")
    server = Server(find_specs(args.targets), log=lambda line: print(line, flush=True))
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        print(f"{signal.Signals(signum).name}: stopping", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.serve(stop, grace=args.grace)
    print("stopped", flush=True)
    return 0


__all__ = [
    "register",
]
