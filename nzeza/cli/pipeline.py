"""`nzeza pipeline run|status|schedule`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="papermill pipelines over parameter grids, on Dask")
    acts = p.add_subparsers(dest="pipeline_command", metavar="ACTION", required=True)
    run = acts.add_parser("run", help="execute every parameter set of a spec")
    run.add_argument("spec", help="pipeline YAML, e.g. pipelines/research.yaml")
    run.add_argument("--output", default=None, help="output folder (default: the spec's)")
    run.add_argument("--scheduler", default=None, help="existing Dask scheduler, tcp://host:8786")
    run.set_defaults(handler=_run)
    st = acts.add_parser("status", help="read a pipeline's run index")
    st.add_argument("target", help="a spec file or an output folder")
    st.set_defaults(handler=_status)
    sc = acts.add_parser("schedule", help="print the crontab line for a spec")
    sc.add_argument("spec")
    sc.set_defaults(handler=_schedule)


def _print_runs(runs: list[dict]) -> None:
    for r in runs:
        metrics = " ".join(f"{k}={v}" for k, v in list(r["metrics"].items())[:4])
        line = f"  {r['status']:6s} {r['duration_s']:7.1f}s  {r['run_id']}  {metrics}"
        if r.get("error"):
            err = r["error"]
            where = f"cell {err.get('cell', '?')}"
            line += f"\n         failed at {where}: {err.get('ename')}: {err.get('evalue')}"
        print(line)


def _run(args: argparse.Namespace) -> int:
    from nzeza.notebook.pipeline import load_spec, run_pipeline

    spec = load_spec(args.spec)
    print(f"pipeline {spec.name}: {len(spec.runs())} runs of {spec.notebook.name}")
    runs = run_pipeline(spec, output=args.output, scheduler=args.scheduler)
    _print_runs(runs)
    failed = sum(r["status"] != "ok" for r in runs)
    out = args.output or spec.output
    print(f"{len(runs) - failed} ok, {failed} failed; index: {out}/index.json")
    return 1 if failed else 0


def _status(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nzeza.notebook.pipeline import load_spec, read_index

    target = Path(args.target)
    out = load_spec(target).output if target.is_file() else target
    index = read_index(out)
    print(f"pipeline {index['pipeline']} ({len(index['runs'])} runs) in {out}")
    _print_runs(index["runs"])
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from nzeza.notebook.pipeline import crontab_line, load_spec

    print(crontab_line(load_spec(args.spec)))
    return 0
