"""Own strategies everywhere: `path/to/file.py:Class` and `module:Class` reach every command
(backtest, sweep, validate, replay, parity, promote, `nzeza strategies`) and the notebooks'
`get_strategy`, with an identity computed from the file's source."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from nzeza.cli import main
from nzeza.errors import ValidationError
from nzeza.strategies import get_strategy
from nzeza.strategies.identity import strategy_identity
from nzeza.strategies.loading import discover, strategy_class

ROOT = Path(__file__).resolve().parents[2]

SOURCE = """
import pandas as pd

from nzeza.strategies import Strategy


class {cls}(Strategy):
    description = "long above the N-bar mean"
    window: int = {window}
    search_space = {{"window": [12, 24]}}

    def validate(self) -> None:
        self.require(self.window >= 2, "window", "must be >= 2")

    @property
    def warmup(self) -> int:
        return self.window

    def target(self, bars: pd.DataFrame) -> pd.Series:
        close = bars["close"]
        return (close > close.rolling(self.window).mean()).astype(float)
"""


@pytest.fixture
def strategy_file(tmp_path, request):
    """A strategy file with a module name unique to the test (imported modules stay)."""
    import re

    name = "own_" + re.sub(r"\W", "_", request.node.name)[:60]
    path = tmp_path / f"{name}.py"
    path.write_text(SOURCE.format(cls="AboveMean", window=24))
    yield path
    sys.modules.pop(name, None)


def _ledger(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


def test_a_file_path_gives_the_class_with_a_source_identity(strategy_file):
    cls = strategy_class(f"{strategy_file}:AboveMean")
    ident = strategy_identity(cls)
    assert ident.family == f"{strategy_file.stem}:AboveMean" and ident.method == "source"
    assert get_strategy(f"{strategy_file}:AboveMean") is cls  # notebooks, promote, pipelines
    assert strategy_class(f"{strategy_file}:AboveMean") is cls  # unchanged file: same class


def test_an_edited_file_is_new_code_with_a_new_identity(strategy_file):
    before = strategy_identity(strategy_class(f"{strategy_file}:AboveMean"))
    strategy_file.write_text(SOURCE.format(cls="AboveMean", window=48))
    after_cls = strategy_class(f"{strategy_file}:AboveMean")
    assert after_cls().window == 48
    after = strategy_identity(after_cls)
    assert after.family == before.family and after.source_hash != before.source_hash


def test_the_same_file_by_path_and_by_module_is_one_family(strategy_file, monkeypatch):
    by_path = strategy_identity(strategy_class(f"{strategy_file}:AboveMean"))
    sys.modules.pop(strategy_file.stem)
    monkeypatch.syspath_prepend(str(strategy_file.parent))
    by_module = strategy_identity(strategy_class(f"{strategy_file.stem}:AboveMean"))
    assert by_path == by_module


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("{path}:Nope", "has no Nope (strategies in it: AboveMean)"),
        ("{path}:pd", "is not a strategy class"),
        ("{dir}/missing.py:X", "no such Python file"),
        ("no_such_module_xyz:X", "cannot be imported"),
        ("no_such_name", "unknown; one of sma_cross"),
    ],
)
def test_bad_specs_are_one_error_naming_the_spec(strategy_file, spec, text):
    spec = spec.format(path=strategy_file, dir=strategy_file.parent)
    with pytest.raises(ValidationError) as err:
        strategy_class(spec)
    assert err.value.field == "strategy" and text in str(err.value)


def test_a_file_that_raises_or_shadows_a_module_is_refused(tmp_path):
    bad = tmp_path / "raising_strategy_file.py"
    bad.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ValidationError, match="raised RuntimeError: boom"):
        strategy_class(f"{bad}:X")
    assert "raising_strategy_file" not in sys.modules
    shadow = tmp_path / "json.py"
    shadow.write_text(SOURCE.format(cls="AboveMean", window=5))
    with pytest.raises(ValidationError, match="'json' is already imported"):
        strategy_class(f"{shadow}:AboveMean")


def test_strategies_lists_shipped_given_and_discovered(strategy_file, capsys):
    assert [spec for spec, _ in discover(strategy_file.parent)] == [f"{strategy_file}:AboveMean"]
    assert main(["strategies", "--dir", str(strategy_file.parent)]) == 0
    out = capsys.readouterr().out
    assert "sma_cross" in out and f"{strategy_file}:AboveMean" in out and "window=24" in out


def test_every_research_command_takes_a_file_path(strategy_file, tmp_path, capsys):
    spec = f"{strategy_file}:AboveMean"
    ledger = ["--ledger", _ledger(tmp_path)]
    assert main(["backtest", spec, "--last", "600", *ledger]) == 0
    assert "AboveMean(window=24)" in capsys.readouterr().out
    assert main(["sweep", spec, "--last", "600", *ledger]) == 0
    assert f"{strategy_file.stem}:AboveMean" in capsys.readouterr().out
    args = ["validate", spec, "--last", "900", "--train", "400", "--test", "200", *ledger]
    assert main([*args, "--grid", "window=12,24"]) == 0
    captured = capsys.readouterr()
    assert "verdict" in captured.out.lower()
    assert "walk-forward AboveMean" in captured.err  # progress of the long command, on stderr
    assert main(["replay", "--strategy", spec, "--data", "btc_usd_1h"]) == 0  # a sample name
    assert "AboveMean" in capsys.readouterr().out
    assert main(["parity", spec, "--bars", "500"]) == 0
    assert main(["sweep", spec, "--grid", "windw=12,24", "--last", "600", *ledger]) == 2
    err = capsys.readouterr().err
    assert "invalid grid[windw]" in err and "valid keys: window" in err


def test_promote_takes_a_file_path_and_refuses_without_a_verdict(strategy_file, tmp_path, capsys):
    notebook = ROOT / "notebooks" / "02_research.ipynb"
    args = ["promote", str(notebook), "--to", "paper", "--strategy", f"{strategy_file}:AboveMean"]
    assert main([*args, "--bars", "300", "--ledger", _ledger(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL verdict" in out and "PASS lookahead" in out


def test_lookahead_command_names_the_first_bar_of_a_peeking_strategy(tmp_path, capsys):
    path = tmp_path / "peeking_strategy_file.py"
    path.write_text(
        "import pandas as pd\nfrom nzeza.strategies import Strategy\n\n\n"
        "class Peek(Strategy):\n"
        "    def target(self, bars: pd.DataFrame) -> pd.Series:\n"
        "        return (bars['close'].shift(-1) > bars['close']).astype(float)\n"
    )
    try:
        assert main(["lookahead", f"{path}:Peek", "--bars", "300", "--cuts", "10"]) == 1
        assert "LOOKAHEAD at" in capsys.readouterr().out
        assert main(["lookahead", "sma_cross", "--bars", "300", "--cuts", "10"]) == 0
        assert "lookahead check passed" in capsys.readouterr().out
    finally:
        sys.modules.pop("peeking_strategy_file", None)


def test_notebook_and_pipeline_parameters_take_a_file_path(strategy_file, tmp_path):
    from nzeza.notebook.parameters import parse_grid, use_parameters
    from nzeza.pipeline import load_spec

    spec = f"{strategy_file}:AboveMean"
    namespace = {"strategy": spec, "params": '{"window": 12}'}
    use_parameters(namespace)
    assert namespace["params"] == {"window": 12}
    with pytest.raises(ValidationError, match="is not a parameter of AboveMean"):
        parse_grid({"windw": [1]}, spec)
    path = tmp_path / "mine.yaml"
    path.write_text(
        f"name: mine\nnotebook: {ROOT / 'notebooks' / '07_my_strategy.ipynb'}\n"
        f"output: {tmp_path / 'out'}\nparameters: {{last_bars: 2000}}\n"
        f"grid:\n  strategy: ['{spec}', sma_cross]\n"
    )
    planned = load_spec(path).planned("x")
    assert [p["strategy"] for _, p in planned] == [spec, "sma_cross"]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", rid) for rid, _ in planned)  # safe file names
