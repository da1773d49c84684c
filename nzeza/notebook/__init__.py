"""Notebook support: metrics reporting, parameter handling, promotion, widgets, plots.

Notebooks call the library; the library never imports notebook code.
"""

from nzeza.notebook.metrics import record_metrics
from nzeza.notebook.parameters import use_parameters

__all__ = ["record_metrics", "use_parameters"]
