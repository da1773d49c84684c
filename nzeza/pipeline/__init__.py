"""Pipelines: papermill runs of notebooks over parameter grids, on Dask, and their schedules.

    spec      a pipeline's YAML: notebook, parameters, grid, output, retries, timeout, schedule
    runner    one execution of a spec (parallel papermill runs, index and history)
    schedule  cron expressions (croniter), next fire times, the crontab line
    serve     the foreground scheduler (`nzeza pipeline serve`)

Trading logic never lives here: a pipeline only runs notebooks, which call the library.
"""

from nzeza.pipeline.runner import (
    PipelineBusy,
    read_history,
    read_index,
    render_html,
    run_pipeline,
)
from nzeza.pipeline.schedule import crontab_line, fire_times, next_fire, validate_cron
from nzeza.pipeline.spec import PipelineSpec, load_spec, run_id_for

__all__ = [
    "PipelineBusy",
    "PipelineSpec",
    "crontab_line",
    "fire_times",
    "load_spec",
    "next_fire",
    "read_history",
    "read_index",
    "render_html",
    "run_id_for",
    "run_pipeline",
    "validate_cron",
]
