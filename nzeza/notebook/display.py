"""How every product notebook shows things (one call instead of a setup block in each)."""

from __future__ import annotations

import warnings


def setup_notebook() -> None:
    """Plotly figures as JSON only (JupyterLab renders them; no 3 MB plotly.js bundle stored in
    the notebook), pandas tables 120 characters wide with up to 12 columns, and library warnings
    silenced so that stored outputs are the same on every run (nbval compares them)."""
    import pandas as pd
    import plotly.io as pio

    warnings.filterwarnings("ignore")
    pio.renderers.default = "plotly_mimetype"
    pd.set_option("display.width", 120)
    pd.set_option("display.max_columns", 12)


__all__ = ["setup_notebook"]
