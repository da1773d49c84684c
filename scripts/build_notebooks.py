"""Build the product notebooks from their source here, then execute them in place.

The notebooks in `notebooks/` are product: numbered, with a `parameters` cell for papermill, no
hidden state, and stored outputs that `make test` checks with nbval. Their source lives in this
file so a change is a reviewable diff; `make notebooks` rewrites and re-executes them.

    .venv/bin/python scripts/build_notebooks.py            # all
    .venv/bin/python scripts/build_notebooks.py 01_data    # one
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import papermill as pm

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"

SETUP = """\
import warnings
warnings.filterwarnings("ignore")
import pandas as pd
import plotly.io as pio
pio.renderers.default = "plotly_mimetype"  # JSON only: JupyterLab renders it, no 3 MB bundle
pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 12)"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}


def md(text: str) -> tuple[str, str]:
    return ("markdown", text.strip())


def code(text: str) -> tuple[str, str]:
    return ("code", text.strip())


def params(text: str) -> tuple[str, str]:
    return ("parameters", text.strip())


NOTEBOOKS["01_data"] = [
    md("""
# 01 · Data

The bundled real samples, their validation report, and a look at the bars. Every sample is real
exchange data (see `nzeza/data/NOTICE.md` for sources and licences); the loaders fix the quirks
of the raw files (newest-first order, swapped volume columns, banner lines) and the validator
reports what real data still has: gaps, outliers, zero-volume runs.
"""),
    params("""
sample = "btc_usd_1h"   # one of nzeza.data.list_samples()
timeframe = "1h"
plot_last = 24 * 60     # bars shown in the candlestick chart
metrics_path = None     # set by pipelines"""),
    code(SETUP),
    code("""
from nzeza.data import list_samples, load_sample, validate_ohlcv
from nzeza.notebook import record_metrics

list_samples()"""),
    code("""
bars = load_sample(sample)
bars.describe().round(2)"""),
    md("## Validation report\nWhat the validator finds in the real data, by problem."),
    code("""
report = validate_ohlcv(bars, timeframe)
print(report)"""),
    code("""report.to_frame().head(10)"""),
    md("## Candles and volume"),
    code("""
import plotly.graph_objects as go
from plotly.subplots import make_subplots

recent = bars.iloc[-plot_last:]
fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.02)
fig.add_trace(go.Candlestick(x=recent.index, open=recent.open, high=recent.high, low=recent.low,
                             close=recent.close, name=sample), row=1, col=1)
fig.add_trace(go.Bar(x=recent.index, y=recent.volume, name="volume"), row=2, col=1)
fig.update_layout(height=550, xaxis_rangeslider_visible=False, template="plotly_white",
                  title=f"{sample}: last {len(recent)} bars")
fig"""),
    code("""
record_metrics(metrics_path, {"sample": sample, "rows": len(bars), "issues": sum(report.counts.values()),
                              "ok": report.ok})"""),
]


def build(name: str, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    path = NB_DIR / f"{name}.ipynb"
    nbformat.write(nb, path)
    pm.execute_notebook(
        str(path), str(path), cwd=str(NB_DIR), kernel_name="python3", progress_bar=False
    )
    # papermill stamps run times into the metadata; drop them so a rebuild is a clean diff
    out = nbformat.read(path, as_version=4)
    out.metadata.pop("papermill", None)
    for cell in out.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(out, path)
    return path


def main(argv: list[str]) -> int:
    names = argv or sorted(NOTEBOOKS)
    for name in names:
        if name not in NOTEBOOKS:
            print(f"unknown notebook {name!r}; known: {', '.join(sorted(NOTEBOOKS))}")
            return 2
        print(f"building {build(name, NOTEBOOKS[name]).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
