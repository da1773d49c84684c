"""Strategy identity: class path + normalised source hash + params hash."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pandas as pd
import pytest

from nzeza.strategies import SmaCross, TrendRsiCombo, identify, strategy_identity
from nzeza.strategies.identity import class_path

MODULE = textwrap.dedent(
    '''
    """A user's strategies."""

    import pandas as pd

    from nzeza.strategies import Strategy

    WINDOW = 20


    def smooth(close):
        return close.rolling(WINDOW).mean()


    class Trend(Strategy):
        """Long above the smoothed close."""

        name = "sma_cross"  # the same short name as the shipped strategy
        fast: int = 10

        def target(self, bars: pd.DataFrame) -> pd.Series:
            return (bars["close"] > smooth(bars["close"])).astype(float)


    class Other(Strategy):
        level: float = 0.5

        def target(self, bars: pd.DataFrame) -> pd.Series:
            return pd.Series(self.level, index=bars.index)
    '''
)


CMP = 'bars["close"] > smooth'


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write `userstrat.py` with `source` and import it fresh; returns a loader."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def load(source: str = MODULE):
        (tmp_path / "userstrat.py").write_text(source)
        sys.modules.pop("userstrat", None)
        importlib.invalidate_caches()
        return importlib.import_module("userstrat")

    yield load
    sys.modules.pop("userstrat", None)


def test_family_is_the_class_path_and_the_short_name_does_not_matter(user_module) -> None:
    mod = user_module()
    assert mod.Trend.name == SmaCross.name == "sma_cross"
    ours, theirs = strategy_identity(SmaCross), strategy_identity(mod.Trend)
    assert ours.family == "nzeza.strategies.technical:SmaCross"
    assert theirs.family == "userstrat:Trend" == class_path(mod.Trend)
    assert ours.identity != theirs.identity and ours.method == theirs.method == "source"
    assert len(ours.source_hash) == 64 and ours.identity == f"{ours.family}@{ours.source_hash[:16]}"


def test_params_hash_covers_every_parameter_with_its_default() -> None:
    a, b = identify(SmaCross(fast=10)), identify(SmaCross(fast=10, slow=30))
    assert a.params == {"fast": 10, "slow": 30} and a.params_hash == b.params_hash
    assert identify(SmaCross(fast=11)).params_hash != a.params_hash
    assert len(a.params_hash) == 64 and a.name == "sma_cross"


def test_changing_what_the_code_does_changes_the_identity(user_module) -> None:
    before = strategy_identity(user_module().Trend)
    # the class body
    edited = strategy_identity(user_module(MODULE.replace(CMP, CMP.replace(">", ">="))).Trend)
    # a module-level function it calls, and a constant that function reads
    helper = strategy_identity(user_module(MODULE.replace(".mean()", ".median()")).Trend)
    constant = strategy_identity(user_module(MODULE.replace("WINDOW = 20", "WINDOW = 21")).Trend)
    hashes = {before.source_hash, edited.source_hash, helper.source_hash, constant.source_hash}
    assert len(hashes) == 4
    assert {before.family, edited.family, helper.family, constant.family} == {"userstrat:Trend"}


def test_whitespace_comments_docstrings_and_other_classes_do_not(user_module) -> None:
    before = strategy_identity(user_module().Trend).source_hash
    cosmetic = MODULE.replace('"""Long above the smoothed close."""', '"""Reworded."""')
    cosmetic = cosmetic.replace("    fast: int = 10", "    fast: int = 10  # a comment\n\n")
    cosmetic = cosmetic.replace("level: float = 0.5", "level: float = 0.75")  # another class
    assert strategy_identity(user_module(cosmetic).Trend).source_hash == before


def test_the_shipped_strategies_hash_their_own_code_only() -> None:
    """SmaCross and TrendRsiCombo share a module; each identity covers what it uses."""
    assert strategy_identity(SmaCross) != strategy_identity(TrendRsiCombo)


def test_an_indicator_change_changes_the_strategies_that_use_it_and_only_those(
    monkeypatch,
) -> None:
    """The indicators a strategy imports are part of what it does: a changed `rolling_min`
    changes DonchianBreakout (which uses it), not SmaCross (which does not); a change to the
    kernel call every rolling function shares changes both; a docstring changes neither."""
    from nzeza.strategies import identity, snapshots
    from nzeza.strategies.technical import DonchianBreakout

    name = "nzeza.strategies.indicators"
    text = snapshots.module_snapshot(name)
    assert text is not None

    def hashes(source: str) -> dict[str, str]:
        monkeypatch.setitem(snapshots._MODULES, name, source)
        return {c.__name__: identity._compute(c).source_hash for c in (SmaCross, DonchianBreakout)}

    before = hashes(text)
    assert before == {c: strategy_identity(k).source_hash for c, k in
                      (("SmaCross", SmaCross), ("DonchianBreakout", DonchianBreakout))}  # fmt: skip

    edits = {
        "rolling_min": ('return _rolling("min", x, n)', 'return _rolling("max", x, n)'),
        "kernel": ("start = np.maximum(end - n, 0)", "start = np.maximum(end - n - 1, 0)"),
        "docstring": ('"""Lowest of the last `n` values', '"""The lowest of the last `n` values'),
    }
    changed = {}
    for edit, (old, new) in edits.items():
        assert text.count(old) == 1, edit
        after = hashes(text.replace(old, new))
        changed[edit] = {k for k in before if after[k] != before[k]}
    assert changed == {
        "rolling_min": {"DonchianBreakout"},
        "kernel": {"SmaCross", "DonchianBreakout"},
        "docstring": set(),
    }


def test_a_file_edited_after_import_does_not_lend_its_source_to_the_running_class(
    user_module, tmp_path
) -> None:
    mod = user_module()
    (tmp_path / "userstrat.py").write_text(MODULE.replace(CMP, CMP.replace(">", "<")))
    assert strategy_identity(mod.Trend) == strategy_identity(user_module(MODULE).Trend)


def test_classes_without_source_use_a_bytecode_fallback() -> None:
    """A notebook cell or exec: no file to read. The compiled code identifies the class."""

    def define(body: str) -> type:
        namespace = {"__name__": "__main__"}
        exec(MODULE.replace(CMP, CMP.replace(">", body)), namespace)
        return namespace["Trend"]

    a, a2, b = define(">"), define(">"), define("<")
    ia, ia2, ib = strategy_identity(a), strategy_identity(a2), strategy_identity(b)
    assert ia.method == "bytecode" and ia.family == "__main__:Trend"
    assert ia.source_hash == ia2.source_hash != ib.source_hash
    bars = pd.DataFrame({"close": range(30)}, dtype=float)
    assert a().target(bars).sum() > 0  # a working class, not a stub


def test_a_class_defined_in_a_function_is_identified_by_its_code() -> None:
    def make(level: float) -> type:
        class Local(SmaCross):
            def target(self, bars):
                return super().target(bars) * level

        return Local

    one, two = strategy_identity(make(0.5)), strategy_identity(make(0.5))
    assert one.method == "bytecode" and one.source_hash == two.source_hash
    assert "<locals>" in one.family


def test_a_strategy_written_in_a_notebook_is_registered_under_its_code(tmp_path) -> None:
    """A class defined in a notebook cell (ipykernel's __main__, no source file) is a trial
    with a bytecode identity; editing the cell's code makes another identity."""
    import nbformat
    import papermill as pm

    from nzeza.store import Ledger
    from nzeza.store.trials import groups

    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    cell = textwrap.dedent(
        """
        import pandas as pd
        from nzeza.data import load_sample
        from nzeza.research import backtest
        from nzeza.strategies import Strategy, strategy_identity

        class Mine(Strategy):
            level: float = 0.5

            def target(self, bars):
                return pd.Series(self.level, index=bars.index) * (bars["close"] > bars["open"])

        result = backtest(Mine(), load_sample("btc_usd_1h").iloc[-300:], ledger=LEDGER)
        print(strategy_identity(Mine).method, result.registration.group.family)
        """
    )
    for variant in (
        cell,
        cell.replace('bars["close"] > bars["open"]', 'bars["close"] < bars["open"]'),
    ):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(variant.replace("LEDGER", repr(url)))]
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(nb, tmp_path / "mine.ipynb")
        out = pm.execute_notebook(
            str(tmp_path / "mine.ipynb"),
            str(tmp_path / "out.ipynb"),
            progress_bar=False,
            cwd=str(tmp_path),
        )
        printed = out.cells[0].outputs[-1]["text"]
        assert printed.strip() == "bytecode __main__:Mine", printed
    with Ledger(url) as led:
        [group] = groups(led)
    assert group["family"] == "__main__:Mine" and group["identities"] == 2
    assert group["distinct_trials"] == 2  # same parameters, changed code: another trial
