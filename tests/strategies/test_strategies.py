"""The strategy contract: typed, validated parameters; targets in range; windowed = full."""

from __future__ import annotations

import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.errors import ValidationError
from nzeza.strategies import (
    PORTFOLIO_REGISTRY,
    REGISTRY,
    SmaCross,
    Strategy,
    get_strategy,
    list_strategies,
)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h").iloc[-2500:]


def test_params_by_keyword_typed_and_validated() -> None:
    s = SmaCross(fast=5, slow="40")
    assert s.params == {"fast": 5, "slow": 40}
    assert s.warmup == 40
    assert s == SmaCross(fast=5, slow=40) and s.fingerprint == SmaCross(fast=5, slow=40).fingerprint
    for kwargs, field in [
        ({"fast": 50, "slow": 30}, "slow"),
        ({"fast": 2.5}, "fast"),
        ({"fast": "ten"}, "fast"),
        ({"speed": 3}, "speed"),
    ]:
        with pytest.raises(ValidationError) as err:
            SmaCross(**kwargs)
        assert err.value.field == field


def test_registry() -> None:
    assert get_strategy("sma_cross") is SmaCross
    assert {d["name"] for d in list_strategies()} == set(REGISTRY) | set(PORTFOLIO_REGISTRY)
    assert len(REGISTRY) >= 6
    with pytest.raises(ValidationError, match="unknown"):
        get_strategy("nope")


def test_sma_cross_definition(bars) -> None:
    t = SmaCross(fast=3, slow=5).targets(bars)
    fast, slow = bars["close"].rolling(3).mean(), bars["close"].rolling(5).mean()
    assert (t.iloc[:4] == 0).all()
    expected = (fast > slow).astype(float).iloc[4:]
    assert (t.iloc[4:] == expected).all()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_targets_in_range_and_last_row_of_window_equals_full_history(bars, name) -> None:
    s = REGISTRY[name]()
    full = s.targets(bars)
    assert full.between(-1, 1).all() and full.index.equals(bars.index)
    assert full.abs().sum() > 0  # it trades on real data
    for end in (len(bars) - 1, len(bars) - 200, len(bars) - 777):
        window = bars.iloc[end + 1 - s.warmup : end + 1]
        assert s.targets(window).iloc[-1] == full.iloc[end], f"{name} at bar {end}"


def test_out_of_range_target_is_rejected(bars) -> None:
    class TooBig(Strategy):
        def target(self, bars):
            return pd.Series(2.0, index=bars.index)

    with pytest.raises(ValidationError, match=r"\[-1, 1\]"):
        TooBig().targets(bars)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_search_space_has_no_duplicate_trials(name: str) -> None:
    """Every combination of a search space must trade differently: a parameter with no effect
    would add trials that are copies, and overstate the count the deflated Sharpe uses."""
    import itertools

    cls = REGISTRY[name]
    assert cls.search_space, f"{name} has no search_space"
    bars = load_sample("btc_usd_1h").iloc[-6000:]
    seen: dict[bytes, dict] = {}
    for combo in itertools.product(*cls.search_space.values()):
        params = dict(zip(cls.search_space, combo, strict=True))
        key = cls(**params).targets(bars).to_numpy().tobytes()
        assert key not in seen, f"{name}: {params} trades exactly like {seen[key]}"
        seen[key] = params


def test_a_subclass_is_named_after_itself_never_after_its_base() -> None:
    """`class MySma(SmaCross)` was named "sma_cross" (inherited), so registering it replaced
    the shipped strategy under that name."""
    from nzeza.strategies import REGISTRY, SmaCross, get_strategy

    class MySma(SmaCross):
        pass

    class Named(SmaCross):
        name = "my_own"

    assert MySma.name == "my_sma" and Named.name == "my_own"
    assert REGISTRY["sma_cross"] is SmaCross and get_strategy("sma_cross") is SmaCross
