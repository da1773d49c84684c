"""Research: vectorbt backtests and sweeps, honest statistics, verdicts, lookahead, walk-forward.

from nzeza.research import backtest, sweep, walk_forward, check_lookahead
from nzeza.research import backtest_portfolio  # a PortfolioStrategy on a panel, shared cash
from nzeza.research import sweep_portfolio  # its grid; walk_forward and check_lookahead take it
from nzeza.research import backtest_perp  # a perpetual: leverage, funding, liquidation
"""

from nzeza.research.backtest import BacktestResult, backtest, order_sizes
from nzeza.research.lookahead import LookaheadReport, check_lookahead
from nzeza.research.perp import PerpResult, backtest_perp, read_funding
from nzeza.research.plots import backtest_figure, heatmap
from nzeza.research.portfolio import PortfolioResult, backtest_portfolio, sweep_portfolio
from nzeza.research.sweep import expand_grid, sweep
from nzeza.research.trials import UnregisteredRunWarning
from nzeza.research.verdict import (
    Verdict,
    VerdictPolicy,
    data_fingerprint,
    decide,
    load_verdicts,
    verdict,
)
from nzeza.research.walkforward import WalkForwardResult, walk_forward

__all__ = [
    "BacktestResult",
    "LookaheadReport",
    "PerpResult",
    "PortfolioResult",
    "UnregisteredRunWarning",
    "Verdict",
    "VerdictPolicy",
    "WalkForwardResult",
    "backtest",
    "backtest_figure",
    "backtest_perp",
    "backtest_portfolio",
    "check_lookahead",
    "data_fingerprint",
    "decide",
    "expand_grid",
    "heatmap",
    "load_verdicts",
    "order_sizes",
    "read_funding",
    "sweep",
    "sweep_portfolio",
    "verdict",
    "walk_forward",
]
