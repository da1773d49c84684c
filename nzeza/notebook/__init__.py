"""Notebook support: metrics reporting, pipelines (papermill + Dask), promotion, widgets, plots.

Notebooks call the library; the library never imports notebook code.
"""

from nzeza.notebook.metrics import record_metrics

__all__ = ["record_metrics"]
