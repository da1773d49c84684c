"""Notebook support: metrics reporting, parameter handling, promotion, widgets, plots.

Notebooks call the library; the library never imports notebook code.
"""

from nzeza.notebook.display import setup_notebook
from nzeza.notebook.metrics import record_metrics
from nzeza.notebook.parameters import notebook_costs, use_parameters
from nzeza.notebook.sessions import kill_session, release_session

__all__ = [
    "kill_session",
    "notebook_costs",
    "record_metrics",
    "release_session",
    "setup_notebook",
    "use_parameters",
]
