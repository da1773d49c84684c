"""The venues' published fee schedules (nzeza.domain.fees) and `Costs.for_venue`."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from nzeza.domain import Costs
from nzeza.domain.fees import SCHEDULES, fee_table, schedule
from nzeza.errors import ValidationError

VENUES = ("binance", "binanceusdm", "coinbase", "kraken", "hyperliquid", "dydx")


def test_every_supported_venue_has_a_schedule() -> None:
    assert set(SCHEDULES) == set(VENUES)


@pytest.mark.parametrize("venue", VENUES)
def test_each_schedule_parses_as_costs_tiers_with_its_sources(venue: str) -> None:
    s = SCHEDULES[venue]
    # the table passes every check Costs puts on tiers (from 0, increasing, rates in range)
    costs = Costs(tiers=s.tiers)
    assert costs.tiers == tuple(tuple(float(x) for x in t) for t in s.tiers)
    assert (costs.maker, costs.taker) == (s.maker, s.taker)
    assert s.sources and all(u.startswith(("http://", "https://")) for u in s.sources)
    assert dt.date.fromisoformat(s.read) <= dt.date(2026, 12, 2)
    assert s.window_days in (14, 30)
    # the base tier: maker ≤ taker on every venue here, and never a rebate at tier 0
    assert 0 <= s.maker <= s.taker <= 0.02
    base = Costs.for_venue(venue, 0, slippage=0.0007)
    assert (base.maker, base.fee, base.slippage) == (s.maker, s.taker, 0.0007)


def test_known_base_rates() -> None:
    """The base tiers as the pages read said them (see the schedules' sources)."""
    rates = {v: (Costs.for_venue(v).maker, Costs.for_venue(v).taker) for v in VENUES}
    assert rates == {
        "binance": (0.001, 0.001),
        "binanceusdm": (0.0002, 0.0005),
        "coinbase": (0.006, 0.012),
        "kraken": (0.0025, 0.004),
        "hyperliquid": (0.00015, 0.00045),
        "dydx": (0.0001, 0.0005),
    }


@pytest.mark.parametrize(
    ("venue", "volume", "maker", "taker"),
    [
        ("dydx", 999_999.99, 0.0001, 0.0005),
        ("dydx", 1_000_000, 0.0001, 0.00045),  # a tier starts at its volume
        ("dydx", 4_999_999, 0.0001, 0.00045),
        ("dydx", 5_000_000, 0.00005, 0.0004),
        ("dydx", 125_000_000, 0.0, 0.0003),
        ("dydx", 1e12, 0.0, 0.0003),  # the top tier has no ceiling
        ("hyperliquid", 4_999_999, 0.00015, 0.00045),
        ("hyperliquid", 5_000_000, 0.00012, 0.0004),
        ("hyperliquid", 499_999_999, 0.00004, 0.0003),
        ("hyperliquid", 500_000_000, 0.0, 0.00028),
        ("hyperliquid", 7_000_000_000, 0.0, 0.00024),
        ("binance", 999_999, 0.001, 0.001),
        ("binance", 1_000_000, 0.0009, 0.001),
        ("binance", 19_999_999, 0.0008, 0.001),
    ],
)
def test_tiers_pick_by_volume(venue, volume, maker, taker) -> None:
    c = Costs.for_venue(venue, volume_30d=volume, slippage=0.0)
    assert (c.maker, c.fee) == (maker, taker)
    assert c.tiers == ()  # the tier's rates, not the table: records state what applied
    # and the same tier as Costs' own rule over the whole table
    t = Costs(tiers=SCHEDULES[venue].tiers).for_volume(volume)
    assert (t.maker, t.fee) == (maker, taker)


@pytest.mark.parametrize(
    ("venue", "volume"),
    [
        ("binance", 20_000_000),  # VIP 3+: the pages read disagree
        ("binance", 1e10),
        ("binanceusdm", 1),  # only the base tier confirmed
        ("coinbase", 5_000),
        ("kraken", 0.01),
    ],
)
def test_a_volume_the_schedule_cannot_confirm_is_refused(venue, volume) -> None:
    with pytest.raises(ValidationError) as exc:
        Costs.for_venue(venue, volume)
    assert exc.value.field == "volume_30d" and venue in exc.value.reason
    assert "--maker-fee" in exc.value.reason


@pytest.mark.parametrize("volume", [-1, math.nan, math.inf, True, "lots", None])
def test_a_bad_volume_is_a_typed_error(volume) -> None:
    with pytest.raises(ValidationError) as exc:
        Costs.for_venue("dydx", volume)
    assert exc.value.field == "volume_30d"


@pytest.mark.parametrize("venue", ["okx", "", "binance-spot", None, 3])
def test_an_unknown_venue_lists_the_known_ones(venue) -> None:
    with pytest.raises(ValidationError) as exc:
        schedule(venue)
    assert exc.value.field == "fees"
    assert all(v in exc.value.reason for v in VENUES)


def test_venue_names_ignore_case_and_spaces() -> None:
    assert Costs.for_venue(" DyDx ") == Costs.for_venue("dydx")


def test_records_of_venue_costs() -> None:
    """Binance spot's base tier is a single rate: its record is today's {fee, slippage}, so a
    run with --fees binance is the same trial configuration as --fee 0.001."""
    assert Costs.for_venue("binance").record() == Costs(0.001, 0.0005).record()
    assert Costs.for_venue("dydx").record() == {"fee": 0.0005, "slippage": 0.0005, "maker": 0.0001}


def test_the_table_names_every_venue_source_and_gap() -> None:
    text = fee_table()
    for s in SCHEDULES.values():
        assert s.venue in text and all(u in text for u in s.sources)
    assert "not confirmed from 20,000,000" in text and "only the base tier is confirmed" in text
    assert "14-day" in text


def test_nzeza_config_fees_prints_the_table(capsys) -> None:
    import json

    from nzeza.cli import main

    assert main(["config", "fees"]) == 0
    assert capsys.readouterr().out.strip() == fee_table()
    assert main(["config", "fees", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == set(VENUES)
    assert data["dydx"]["tiers"][1] == [1_000_000, 0.0001, 0.00045]
    assert data["dydx"]["confirmed_below"] is None and data["kraken"]["confirmed_below"] == 0
