"""Chunked research work (a sweep's chunks) in this process or spread over Dask.

`run_chunks(fn, chunks, common, scheduler=...)` calls `fn(chunk, *common)` for every chunk and
yields `(chunk number, result)`: in order in this process (`scheduler=None`), or as the tasks
finish on a Dask cluster — a local one of worker processes (`"processes"`) or an existing one
(`"tcp://host:8786"`, or a `distributed.Client`). The conventions are the pipeline runner's
(`nzeza.notebook.pipeline`): one thread per worker process, no dashboard, quiet logs; the
connection timeout is 30 s rather than the runner's 10 s, because a scheduler on the same busy
machine as CPU-bound sweep workers can take longer than 10 s to answer. The shared arguments
are sent to the workers once; a task's error is raised here, with the remaining tasks
cancelled.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from nzeza.errors import ValidationError

LOCAL = "processes"


def check_scheduler(scheduler: Any) -> Any:
    """None, "processes", an address with a scheme ("tcp://host:8786") or a Client."""
    if scheduler is None or scheduler == LOCAL:
        return scheduler
    if isinstance(scheduler, str):
        if "://" in scheduler and scheduler.split("://", 1)[1]:
            return scheduler
    else:
        from dask.distributed import Client

        if isinstance(scheduler, Client):
            return scheduler
    raise ValidationError(
        "scheduler", scheduler, f"use {LOCAL!r} or a Dask scheduler address like tcp://host:8786"
    )


def check_workers(workers: Any) -> int:
    """Worker processes of a local cluster (default: the machine's cores)."""
    if workers is None:
        return max(os.cpu_count() or 1, 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError("workers", workers, "must be a positive integer")
    return workers


@contextmanager
def dask_client(scheduler: Any, workers: int | None = None) -> Iterator[Any]:
    """A connected `distributed.Client` for `scheduler`, closed afterwards (unless given one)."""
    from dask.distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    cluster = None
    if scheduler == LOCAL:
        cluster = LocalCluster(
            n_workers=check_workers(workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise ValidationError("scheduler", scheduler, f"cannot connect: {exc}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_chunks(
    fn: Callable[..., Any],
    chunks: Sequence[Any],
    common: tuple = (),
    *,
    scheduler: Any = None,
    workers: int | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield `(i, fn(chunks[i], *common))` for every chunk (in order without a scheduler, as
    they finish with one)."""
    scheduler = check_scheduler(scheduler)
    if scheduler is None:
        for i, chunk in enumerate(chunks):
            yield i, fn(chunk, *common)
        return
    from dask.distributed import as_completed

    with dask_client(scheduler, workers) as client:
        # large arguments (the bars) go to every worker once, the rest travel with each task
        shared = [
            client.scatter(arg, broadcast=True) if hasattr(arg, "shape") else arg for arg in common
        ]
        futures = {
            client.submit(fn, chunk, *shared, pure=False): i for i, chunk in enumerate(chunks)
        }
        try:
            for future in as_completed(futures):
                i = futures[future]
                result = future.result()
                future.release()
                yield i, result
        finally:
            client.cancel(list(futures))


__all__ = [
    "LOCAL",
    "check_scheduler",
    "check_workers",
    "dask_client",
    "run_chunks",
]
