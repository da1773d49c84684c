"""Every backtest is a trial: registration of backtests, sweeps and validations in the ledger.

`backtest()`, `sweep()` and `walk_forward()` call `recording(...)` and hand it what they
computed; the recorder writes the configurations with their per-bar returns to the trial
registry of the ledger (`nzeza.store.trials`) — the configured one (`open_ledger()`: settings'
`effective_ledger_url`) unless a `ledger=` (a `Ledger` or a URL) is passed.

Groups and counts. Trials are grouped by (strategy family, data fingerprint, timeframe). The
family is the class path `module:QualName`, not the source hash: editing a strategy keeps its
trial count (a cosmetic edit changes nothing; a change to what the code does adds its
configurations as new trials of the same group) instead of starting from zero. A fresh data set
(any other slice of bars) or timeframe starts a new group, and the registration says so.

Opting out is explicit and announced: `register=False` emits an `UnregisteredRunWarning`, and
the run's results cannot feed a verdict (verdicts read their evidence from the registry only).
Benchmarks use it. A walk-forward's fold sweeps and out-of-sample backtests are sub-period
evaluations of combinations that the same walk-forward registers once on its whole data set;
they run inside `_sub_evaluation()` and are not registered again.

Sources: `backtest` (a single backtest), `sweep` (every valid combination of a grid),
`validate` (the combinations a walk-forward validation sweeps, on the whole data set).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from nzeza.data.timeframe import timeframe_of

log = logging.getLogger("nzeza.research.trials")

SOURCES = ("backtest", "sweep", "validate")
_SUB = "sub-evaluation"
_SCOPE: ContextVar[str | None] = ContextVar("nzeza_trial_scope", default=None)


class UnregisteredRunWarning(UserWarning):
    """A backtest or sweep ran with `register=False`: it is not in the trial registry."""


@contextmanager
def _scoped(source: str) -> Iterator[None]:
    token = _SCOPE.set(source)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _sub_evaluation() -> Any:
    """Backtests inside are parts of a registered evaluation (walk-forward folds)."""
    return _scoped(_SUB)


def _as_source(source: str) -> Any:
    """Registrations inside are recorded with this source (e.g. "validate")."""
    if source not in SOURCES:
        raise ValueError(f"unknown trial source {source!r}")
    return _scoped(source)


# -- what a trial is measured on ----------------------------------------------------------------
def data_fingerprint(bars: pd.DataFrame) -> str:
    """16 hex of the sha256 of the bars' timestamps and OHLC: any other slice is another set.
    A panel ((symbol, field) columns): its symbols' names and every symbol's OHLC."""
    h = hashlib.sha256()
    h.update(np.asarray(bars.index.asi8).tobytes())
    ohlc = ["open", "high", "low", "close"]
    if isinstance(bars.columns, pd.MultiIndex):
        symbols = list(dict.fromkeys(bars.columns.get_level_values(0)))
        h.update(repr(["panel", *map(str, symbols)]).encode())
        cols = [(s, f) for s in symbols for f in ohlc]
        h.update(np.ascontiguousarray(bars[cols].to_numpy(dtype=np.float64)).tobytes())
        return h.hexdigest()[:16]
    h.update(np.ascontiguousarray(bars[ohlc].to_numpy()).tobytes())
    return h.hexdigest()[:16]


def costs_json(
    costs: Any, init_cash: float, orders: Any = None, terms: dict[str, Any] | None = None
) -> str:
    """The trial's cost key. Single-rate costs and market orders keep the key they always had;
    maker/taker, tiers or limit/post-only/stop orders add their fields (another trial group);
    `terms` adds what else changes the result for the same strategy and bars (a perpetual's
    venue, leverage, margin and funding data: `research.perp`)."""
    from nzeza.store import canonical_json

    extra = {} if orders is None or orders.is_market else {"orders": orders.record()}
    key = {**costs.record(), "init_cash": float(init_cash), **extra}
    return canonical_json(key | dict(terms or {}))


def per_bar_returns(values: np.ndarray) -> np.ndarray:
    """Equity (n_bars, or n_bars × k) → per-bar returns, first bar 0, as float32."""
    v = np.asarray(values, dtype=np.float64)
    out = np.zeros(v.shape, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:] = v[1:] / v[:-1] - 1.0
    out[~np.isfinite(out)] = 0.0
    return out


class SharedArray(np.ndarray):
    """A read-only array that pandas shares between a frame and its derivatives instead of
    deep-copying it (pandas deep-copies `attrs` on every operation: a sweep's returns matrix
    would be copied by each `.head()`)."""

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> SharedArray:
        return self


def shared(values: np.ndarray) -> SharedArray:
    out = values.view(SharedArray)
    out.flags.writeable = False
    return out


# -- recording ----------------------------------------------------------------------------------
@dataclass
class Recorder:
    """Registers the configurations of one call (a backtest, or a sweep chunk by chunk)."""

    ledger: Any
    strategy_cls: type
    bars: pd.DataFrame
    costs: str
    source: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    registration: Any = None  # nzeza.store.trials.Registration, merged over the chunks
    active = True  # add() writes (a NullRecorder's does not)

    @property
    def registered(self) -> bool:
        return True

    def add(
        self,
        strategies: Sequence[Any],
        returns: np.ndarray,
        sharpe: Sequence[float],
        n_obs: Sequence[int],
    ) -> None:
        """Register `strategies` (instances of the class); column j of `returns` (n_bars × k,
        float32) is strategy j's per-bar returns; one transaction."""
        from nzeza import __version__
        from nzeza.store.trials import TrialGroup, TrialSpec, register_trials
        from nzeza.strategies.identity import canonical_params, identify, strategy_identity

        ident = strategy_identity(self.strategy_cls)
        specs = []
        name = ""
        for strategy, sr, n in zip(strategies, sharpe, n_obs, strict=True):
            found = identify(strategy)
            name = found.name
            specs.append(TrialSpec(canonical_params(found.params), found.params_hash, sr, int(n)))
        index = self.bars.index
        reg = register_trials(
            self.ledger,
            group=TrialGroup(ident.family, data_fingerprint(self.bars), timeframe_of(self.bars)),
            identity=ident.identity,
            source_hash=ident.source_hash,
            strategy=name,
            costs=self.costs,
            data_start_ns=int(index[0].value),
            data_end_ns=int(index[-1].value),
            n_bars=len(index),
            source=self.source,
            run_id=self.run_id,
            code_version=__version__,
            trials=specs,
            returns=returns,
        )
        if self.registration is None:
            self.registration = reg
        else:
            prev = self.registration
            self.registration = replace(
                reg,
                offered=prev.offered + reg.offered,
                new=prev.new + reg.new,
                group_was_new=prev.group_was_new,
            )

    @property
    def note(self) -> str:
        return describe(self.registration) if self.registration else ""


class NullRecorder:
    """Records nothing: a sub-evaluation, or an announced opt-out (`register=False`)."""

    registration = None
    note = ""
    active = False

    def __init__(self, registered: bool) -> None:
        self._registered = registered

    @property
    def registered(self) -> bool:
        return self._registered

    def add(self, *args: Any, **kwargs: Any) -> None:
        return None


def describe(reg: Any) -> str:
    """One line for the user: what the registration did to its group."""
    span = f"{reg.group.family} on data {reg.group.dataset} ({reg.group.timeframe})"
    if reg.group_was_new:
        return (
            f"trial registry: NEW GROUP {span} — a fresh data set or timeframe starts its count "
            f"at {reg.distinct} distinct trial(s)"
        )
    return (
        f"trial registry: {reg.offered} configuration(s) offered, {reg.new} new row(s); "
        f"{span} now has {reg.distinct} distinct trial(s)"
    )


@contextmanager
def recording(
    strategy_cls: type,
    bars: pd.DataFrame,
    costs: Any,
    init_cash: float,
    *,
    ledger: Any,
    register: bool,
    what: str,
    orders: Any = None,
    terms: dict[str, Any] | None = None,
) -> Iterator[Recorder | NullRecorder]:
    """The recorder of one backtest or sweep (`what`): the ledger given, or the configured
    one opened for the call. `register=False` is announced with an UnregisteredRunWarning."""
    scope = _SCOPE.get()
    if scope == _SUB:
        yield NullRecorder(registered=True)  # the enclosing evaluation registers these
        return
    if not register:
        warnings.warn(
            f"{what} of {strategy_cls.__name__} is not registered in the trial registry "
            "(register=False): its results cannot feed a verdict",
            UnregisteredRunWarning,
            stacklevel=4,
        )
        yield NullRecorder(registered=False)
        return
    with using_ledger(ledger) as led:
        key = costs_json(costs, init_cash, orders, terms)
        recorder = Recorder(led, strategy_cls, bars, key, scope or what)
        yield recorder
    if recorder.registration is not None:
        log.info(recorder.note)


@contextmanager
def using_ledger(ledger: Any) -> Iterator[Any]:
    """`ledger` if it is a `Ledger`; else the ledger at that URL (None: the configured one),
    opened for the block and closed after it."""
    from nzeza.store import Ledger, open_ledger

    if isinstance(ledger, Ledger):
        yield ledger
        return
    opened = open_ledger(ledger)
    try:
        yield opened
    finally:
        opened.close()


def record_backtest(result: Any, *, ledger: Any, register: bool) -> Any:
    """Register a single backtest (`BacktestResult`, or a `PerpResult` whose `trial_terms`
    join its cost key); returns its registration or None."""
    with recording(
        type(result.strategy),
        result.bars,
        result.costs,
        result.init_cash,
        ledger=ledger,
        register=register,
        what="backtest",
        orders=getattr(result, "policy", None),  # portfolio results have none
        terms=getattr(result, "trial_terms", None),
    ) as rec:
        if isinstance(rec, NullRecorder):
            return None
        from nzeza import stats

        equity = result.equity.to_numpy(dtype=np.float64)
        sample = equity[1:] / equity[:-1] - 1.0  # float64, as the sweep's statistics
        sharpe = stats.sharpe_ratio(sample)
        rec.add([result.strategy], per_bar_returns(equity)[:, None], [sharpe], [len(sample)])
    return rec.registration


__all__ = [
    "SOURCES",
    "NullRecorder",
    "Recorder",
    "SharedArray",
    "UnregisteredRunWarning",
    "costs_json",
    "data_fingerprint",
    "describe",
    "per_bar_returns",
    "record_backtest",
    "recording",
    "shared",
    "timeframe_of",
    "using_ledger",
]
