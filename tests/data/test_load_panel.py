"""`load_panel`: every symbol of a sample or file as a (symbol, field) panel, each checked."""

from __future__ import annotations

import pandas as pd
import pytest

from nzeza.data import load, load_panel, load_sample
from nzeza.errors import ValidationError


def test_a_sample_panel_is_the_samples_own() -> None:
    panel = load_panel("bitstamp_1d")
    pd.testing.assert_frame_equal(panel, load_sample("bitstamp_1d"))
    assert panel.attrs["symbols"] == ["BTC", "ETH", "LTC"] and panel.attrs["timeframe"] == "1d"


def test_a_file_with_a_symbol_column_is_a_panel(tmp_path) -> None:
    sample = load_sample("bitstamp_1d").iloc[-300:]
    rows = sample.stack(level=0, future_stack=True).reset_index().dropna(subset=["close"])
    path = tmp_path / "p.csv"
    rows.to_csv(path, index=False)
    panel = load_panel(path)
    pd.testing.assert_frame_equal(panel, sample, check_freq=False)
    pd.testing.assert_frame_equal(
        panel["ETH"], load(path, symbol="ETH"), check_freq=False, check_names=False
    )


def test_a_single_series_is_a_panel_of_one(tmp_path) -> None:
    bars = load_sample("btc_usd_1h").iloc[-50:]
    path = tmp_path / "one.csv"
    bars.reset_index().to_csv(path, index=False)
    panel = load_panel(path)
    assert panel.attrs["symbols"] == ["one"] and list(panel["one"].columns) == list(bars.columns)


def test_each_symbol_is_checked(tmp_path) -> None:
    sample = load_sample("bitstamp_1d").iloc[-50:]
    rows = sample.stack(level=0, future_stack=True).reset_index().dropna(subset=["close"])
    rows.loc[rows["symbol"] == "LTC", "high"] = 0.01  # high below open/close
    rows.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValidationError):
        load_panel(tmp_path / "bad.csv")
    with pytest.raises(ValidationError, match="no such file"):
        load_panel(tmp_path / "missing.csv")
