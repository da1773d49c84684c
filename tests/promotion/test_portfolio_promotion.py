"""Promotion of a portfolio strategy (issue 17): to paper through the verdict, lookahead and
parity gates on the panel, the parity gate comparing the engine's windowed portfolio replay
with the backtest order for order; to live, only naming every symbol the live session trades
(tests/engine/test_portfolio_live.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nzeza.data import load_sample
from nzeza.errors import ValidationError
from nzeza.promotion.gates import promote
from nzeza.store import Ledger

NOTEBOOK = "notebooks/08_portfolio.ipynb"
PARAMS = {"lookback": 20, "top": 2, "rebalance": 1}


@pytest.fixture
def ledger(tmp_path):
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as led:
        yield led


@pytest.fixture(scope="module")
def panel():
    return load_sample("bitstamp_1d").iloc[-250:]


def gates_of(decision) -> dict[str, tuple[bool, str]]:
    return {g.name: (g.passed, g.detail) for g in decision.gates}


def test_paper_promotion_runs_the_gates_on_the_panel(ledger, panel) -> None:
    decision = promote(
        NOTEBOOK, "paper", strategy="cross_sectional_momentum", params=PARAMS, ledger=ledger,
        bars=panel,
    )  # fmt: skip
    gates = gates_of(decision)
    assert gates["parity"][0] and "orders on 3 symbols equal" in gates["parity"][1]
    assert gates["lookahead"][0]
    assert not gates["verdict"][0]  # no verdict of these parameters: refused, and recorded
    assert not decision.passed and decision.record_id is not None
    assert decision.binding["symbol"] == "BTC,ETH,LTC"


def test_the_parity_gate_fails_an_engine_that_trades_differently(ledger, panel, monkeypatch):
    import nzeza.engine.rebalance as rebalance

    real = rebalance.size_weight

    def off(*args, **kwargs):
        sized = real(*args, **kwargs)
        if sized is None:
            return None
        return type(sized)(sized.side, sized.quantity * Decimal("1.0001"), sized.reference_price)

    monkeypatch.setattr(rebalance, "size_weight", off)
    decision = promote(
        NOTEBOOK, "paper", strategy="cross_sectional_momentum", params=PARAMS, ledger=ledger,
        bars=panel,
    )  # fmt: skip
    passed, detail = gates_of(decision)["parity"]
    assert not passed and "sizes differ" in detail


def test_live_promotion_of_a_portfolio_names_every_symbol_it_trades(ledger, panel) -> None:
    with pytest.raises(ValidationError) as err:
        promote(
            NOTEBOOK, "live", strategy="cross_sectional_momentum", params=PARAMS, ledger=ledger,
            bars=panel, venue="binance",
        )  # fmt: skip
    assert err.value.field == "symbol"
    assert "every symbol" in err.value.reason
    assert ledger.promotions() == []  # nothing recorded


def test_cli_promotes_a_portfolio_on_the_panel(tmp_path, capsys) -> None:
    from nzeza.cli import main

    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    capsys.readouterr()
    code = main(
        ["promote", NOTEBOOK, "--to", "paper", "--strategy", "cross_sectional_momentum",
         "--params", "lookback=20", "top=2", "rebalance=1", "--sample", "bitstamp_1d",
         "--bars", "250", "--ledger", url]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1 and "orders on 3 symbols equal" in out  # refused by the verdict gate only
