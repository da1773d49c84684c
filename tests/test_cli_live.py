"""`nzeza live` refuses, end to end through the CLI, naming every gate that is not met:
explicit confirmation, a live venue, https/wss endpoints, present and well-formed credentials,
the venue's own feed, a passed live promotion of exactly this strategy + parameters, and a
ledger whose keyed audit chain vouches for that promotion (rows and entries forged by someone
with write access to the database but not the key are named). No
secret is ever echoed, and nothing is sent anywhere (the endpoints below do not exist)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update
from support.promotions import grant_live

from nzeza.ops.settings import LIVE_CONFIRMATION
from nzeza.store import Ledger, canonical_json
from nzeza.store import schema as s
from nzeza.strategies.base import params_hash

ROOT = Path(__file__).resolve().parents[1]
GOOD_KEY = "K" * 32 + "k" * 32  # 64 letters: well-formed for Binance
GOOD_SECRET = "S" * 30 + "s" * 34
CANARY = "CanaryLiveKey-do-not-print"  # malformed on purpose


def nzeza_live(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    full["PYTHONPATH"] = str(ROOT)  # this checkout's nzeza
    full.update(env)
    cmd = [sys.executable, "-m", "nzeza.cli", "live", "--strategy", "sma_cross"]
    cmd += ["--params", "fast=5", "slow=20", "--ledger", f"sqlite:///{tmp / 'ledger.sqlite'}"]
    return subprocess.run(
        [*cmd, *args], cwd=tmp, env=full, capture_output=True, text=True, timeout=120
    )


def reasons(out: subprocess.CompletedProcess) -> list[str]:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "live trading is not allowed" in out.stderr
    assert "starting" not in out.stdout  # no session was started
    return [line.strip()[2:] for line in out.stderr.splitlines() if line.strip().startswith("- ")]


def configured(**overrides: str) -> dict[str, str]:
    env = {
        "NZEZA_LIVE_VENUE": "binance",
        "NZEZA_LIVE_CONFIRM": LIVE_CONFIRMATION,
        "NZEZA_BINANCE__API_KEY": GOOD_KEY,
        "NZEZA_BINANCE__API_SECRET": GOOD_SECRET,
        "NZEZA_BINANCE__REST_URL": "https://127.0.0.1:9",
        "NZEZA_BINANCE__WS_URL": "wss://127.0.0.1:9",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v}


def promote(tmp: Path, params: dict, passed: bool = True, **run: object) -> int:
    """A live promotion recorded through the ledger, binding the run `nzeza_live` starts
    (sma_cross on BTCUSDT, 5s bars, binance, default costs and risk) unless `run` says else."""
    return grant_live(
        f"sqlite:///{tmp / 'ledger.sqlite'}", "sma_cross", params, passed=passed, **run
    )


def test_nothing_configured_names_confirmation_venue_and_promotion(tmp_path) -> None:
    got = reasons(nzeza_live(tmp_path))
    assert len(got) == 3, got
    assert got[0].startswith(f"NZEZA_LIVE_CONFIRM must be set to {LIVE_CONFIRMATION}")
    assert got[1].startswith("NZEZA_LIVE_VENUE is not set")
    assert got[2].startswith("promotion gate: sma_cross {'fast': 5, 'slow': 20}")
    assert "no live promotion record exists" in got[2]


def test_the_confirm_flag_is_an_explicit_confirmation(tmp_path) -> None:
    got = reasons(nzeza_live(tmp_path, "--confirm", LIVE_CONFIRMATION))
    assert not any("NZEZA_LIVE_CONFIRM" in r for r in got)
    wrong = reasons(nzeza_live(tmp_path, "--confirm", "yes"))
    assert any(r.startswith("NZEZA_LIVE_CONFIRM") for r in wrong)


def test_every_failed_gate_is_named_at_once_and_no_secret_is_echoed(tmp_path) -> None:
    env = configured(
        NZEZA_LIVE_CONFIRM="",
        NZEZA_BINANCE__REST_URL="http://127.0.0.1:9",
        NZEZA_BINANCE__WS_URL="ws://127.0.0.1:9",
        NZEZA_BINANCE__API_KEY=CANARY,
        NZEZA_BINANCE__API_SECRET="",
    )
    out = nzeza_live(tmp_path, "--feed", "capture:binance_btcusdt", **env)
    got = reasons(out)
    expected_starts = [
        "NZEZA_LIVE_CONFIRM must be set",
        "NZEZA_BINANCE__REST_URL must be a https:// endpoint in live mode, got http://",
        "NZEZA_BINANCE__WS_URL must be a wss:// endpoint in live mode, got ws://",
        "NZEZA_BINANCE__API_KEY is malformed",
        "NZEZA_BINANCE__API_SECRET is missing",
        "--feed capture:binance_btcusdt: a live session trades on its venue's own feed",
        "promotion gate: sma_cross",
    ]
    assert len(got) == len(expected_starts), got
    for reason, start in zip(got, expected_starts, strict=True):
        assert reason.startswith(start), (reason, start)
    assert CANARY not in out.stdout + out.stderr


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (configured(NZEZA_BINANCE__API_KEY=""), "NZEZA_BINANCE__API_KEY is missing"),
        (configured(NZEZA_BINANCE__API_SECRET="not a secret"), "NZEZA_BINANCE__API_SECRET is mal"),
        (configured(NZEZA_BINANCE__REST_URL="http://x"), "NZEZA_BINANCE__REST_URL must be a https"),
        (configured(NZEZA_BINANCE__WS_URL="ws://x"), "NZEZA_BINANCE__WS_URL must be a wss"),
        (configured(NZEZA_LIVE_CONFIRM="I agree"), "NZEZA_LIVE_CONFIRM must be set"),
        (  # every venue is a live venue now (before: "read their trades from binance only")
            configured(
                NZEZA_LIVE_VENUE="dydx",
                NZEZA_DYDX__MNEMONIC=" ".join(["abandon"] * 23 + ["art"]),
            ),
            "NZEZA_DYDX__CHAIN_ID is missing",
        ),
    ],
)
def test_one_missing_gate_is_named_with_the_promotion_in_place(tmp_path, env, named) -> None:
    promote(tmp_path, {"fast": 5, "slow": 20}, venue=env["NZEZA_LIVE_VENUE"])
    got = reasons(nzeza_live(tmp_path, **env))
    assert len(got) == 1 and got[0].startswith(named), got


def test_the_promotion_must_be_for_exactly_these_parameters(tmp_path) -> None:
    promote(tmp_path, {"fast": 10, "slow": 30})  # another configuration
    got = reasons(nzeza_live(tmp_path, **configured()))
    assert len(got) == 1, got
    assert "the passed live promotion #1 does not bind this run" in got[0]
    assert "params.fast: promoted 10, now 5; params.slow: promoted 30, now 20" in got[0]
    other = tmp_path / "refused"
    other.mkdir()
    promote(other, {"fast": 5, "slow": 20}, passed=False)  # refused at promotion time
    got = reasons(nzeza_live(other, **configured()))
    assert len(got) == 1 and "was refused" in got[0]


def test_every_difference_from_the_promoted_run_is_named(tmp_path) -> None:
    """The bypass: the promotion covered strategy + params only, so symbol, timeframe, costs,
    sizing and risk settings were free at live time. Each one changed is now named."""
    promote(tmp_path, {"fast": 5, "slow": 20})
    env = configured(NZEZA_RISK__MAX_DAILY_LOSS="10%", NZEZA_RISK__ACCOUNT_FRACTION="0.9")
    out = nzeza_live(
        tmp_path,
        *("--symbol", "ETHUSDT", "--timeframe", "1h", "--fee", "0.0005", "--slippage", "0"),
        *("--vol-target", "0.5", "--vol-lookback", "24"),
        **env,
    )
    got = reasons(out)
    assert len(got) == 1 and got[0].startswith("promotion gate: sma_cross"), got
    for named in (
        "symbol: promoted BTC/USDT, now ETH/USDT",
        "timeframe: promoted 5s, now 1h",
        "fee: promoted 0.001, now 0.0005",
        "slippage: promoted 0.0005, now 0.0",
        "sizing.vol_target: promoted off, now 0.5",
        "sizing.vol_lookback: promoted off, now 24",
        "risk.max_daily_loss: promoted 5%, now 10%",
        "risk.account_fraction: promoted 0.5, now 0.9",
    ):
        assert named in got[0], (named, got[0])
    assert "params" not in got[0].split("does not bind this run")[1]  # only what changed


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [
        (["--symbol", "ETHUSDT"], {}, "symbol: promoted BTC/USDT, now ETH/USDT"),
        (["--timeframe", "1m"], {}, "timeframe: promoted 5s, now 1m"),
        ([], {"NZEZA_LIVE_VENUE": "kraken"}, "venue: promoted binance, now kraken"),
        ([], {"NZEZA_RISK__ON_BREACH": "reject"}, "risk.on_breach: promoted twap, now reject"),
    ],
)
def test_one_changed_field_is_the_one_named(tmp_path, flags, env, named) -> None:
    promote(tmp_path, {"fast": 5, "slow": 20})
    got = reasons(nzeza_live(tmp_path, *flags, **configured(**env)))
    promotion = [r for r in got if r.startswith("promotion gate")]
    assert len(promotion) == 1 and promotion[0].endswith(named), got


def test_a_borrowed_class_name_does_not_inherit_the_promotion(tmp_path) -> None:
    """The bypass: `--strategy evil:sma_cross`, a user class that happens to be called
    sma_cross, passed the promotion made for the shipped strategy."""
    (tmp_path / "evil.py").write_text(EVIL)
    promote(tmp_path, {"fast": 5, "slow": 20})
    env = configured(PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    got = reasons(nzeza_live(tmp_path, "--strategy", "evil:sma_cross", **env))
    assert len(got) == 1, got
    assert "strategy: promoted nzeza.strategies.technical:SmaCross@" in got[0]
    assert "now evil:Evil@" in got[0]


def test_a_promotion_judged_under_looser_thresholds_than_today_is_refused(tmp_path) -> None:
    loose = {"min_paper_bars": 100, "min_paper_days": 7.0, "max_tracking_error": 0.05}
    promote(tmp_path, {"fast": 5, "slow": 20}, thresholds=loose)
    got = reasons(nzeza_live(tmp_path, **configured()))
    assert len(got) == 1, got
    assert "thresholds.min_paper_bars: promoted under 100, settings now require 500" in got[0]
    assert "thresholds.max_tracking_error: promoted under 0.05" in got[0]


def test_a_promotion_made_before_bindings_is_not_enough(tmp_path) -> None:
    params = {"fast": 5, "slow": 20}
    with ledger_at(tmp_path) as led:
        led.add_promotion(
            strategy="sma_cross",
            params=params,
            params_hash=params_hash("sma_cross", params),
            target="live",
            data_fingerprint="d",
            notebook_hash="n",
            gates={"verdict": {"passed": True}},
            passed=True,
        )
    got = reasons(nzeza_live(tmp_path, **configured()))
    assert len(got) == 1 and "made before promotions bound the whole run" in got[0], got


EVIL = """
import pandas as pd

from nzeza.strategies import Strategy


class Evil(Strategy):
    name = "sma_cross"
    fast: int = 10
    slow: int = 30

    def target(self, bars: pd.DataFrame) -> pd.Series:
        return pd.Series(1.0, index=bars.index)


sma_cross = Evil
"""


def test_config_check_live_names_the_same_configuration_gates(tmp_path) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    full.update(configured(NZEZA_BINANCE__REST_URL="http://x", NZEZA_BINANCE__API_KEY=CANARY))
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "config", "check", "--live"],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert "NZEZA_BINANCE__REST_URL" in out.stderr and "NZEZA_BINANCE__API_KEY" in out.stderr
    assert CANARY not in out.stdout + out.stderr


def ledger_at(tmp: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}")


def test_a_promotion_row_inserted_by_hand_is_refused(tmp_path) -> None:
    """The bypass: a passed live promotion written straight into the database (write access,
    no audit key) is named by the ledger integrity gate — even one whose binding is a perfect
    copy of the run's."""
    params = {"fast": 5, "slow": 20}
    # the binding a real promotion of this run would carry, from a promotion in another ledger
    donor = tmp_path / "donor"
    donor.mkdir()
    promote(donor, params)
    with Ledger(f"sqlite:///{donor / 'ledger.sqlite'}") as led:
        binding = led.promotions()[0]["binding"]
    with ledger_at(tmp_path) as led, led.engine.begin() as conn:
        conn.execute(
            s.promotions.insert().values(
                strategy="sma_cross",
                params=canonical_json(params),
                params_hash=params_hash("sma_cross", params),
                target="live",
                data_fingerprint="d",
                notebook_hash="n",
                gates="{}",
                passed=1,
                created_ns=1,
                binding=binding,
            )
        )
    got = reasons(nzeza_live(tmp_path, **configured()))
    assert got[:2] == [
        "ledger integrity: promotion #1: not in the audit chain: inserted outside the ledger",
        "ledger integrity: promotion #1: no promotion entry in the audit chain records it "
        "(written by hand?); see `nzeza audit verify`",
    ], got


def test_an_edited_promotion_binding_is_refused(tmp_path) -> None:
    """Editing the promoted run in the row (here: the symbol, to trade ETH on a BTC promotion)
    breaks the row's digest in the chain."""
    promote(tmp_path, {"fast": 5, "slow": 20})
    with ledger_at(tmp_path) as led, led.engine.begin() as conn:
        row = conn.execute(select(s.promotions)).one()._mapping
        edited = row["binding"].replace('"BTC/USDT"', '"ETH/USDT"')
        conn.execute(update(s.promotions).values(binding=edited))
    got = reasons(nzeza_live(tmp_path, "--symbol", "ETHUSDT", **configured()))
    assert got[0].startswith("ledger integrity: promotion #1: edited"), got


def test_an_edited_promotion_audit_entry_is_refused(tmp_path) -> None:
    promote(tmp_path, {"fast": 5, "slow": 20})
    with ledger_at(tmp_path) as led, led.engine.begin() as conn:
        entry = (
            conn.execute(select(s.audit_log).where(s.audit_log.c.kind == "promotion"))
            .one()
            ._mapping
        )
        payload = entry["payload"].replace('"params_hash"', '"note":"ok","params_hash"')
        conn.execute(
            update(s.audit_log).where(s.audit_log.c.seq == entry["seq"]).values(payload=payload)
        )
    got = reasons(nzeza_live(tmp_path, **configured()))
    assert got[0] == (
        "ledger integrity: promotion #1: no promotion entry in the audit chain records it "
        "(written by hand?)"
    ), got
    assert got[1].startswith(
        f"ledger integrity: audit_log seq {entry['seq']}: promotion entry does not match its hash"
    ), got


def test_a_refused_promotion_edited_into_a_pass_is_refused(tmp_path) -> None:
    promote(tmp_path, {"fast": 5, "slow": 20}, passed=False)
    with ledger_at(tmp_path) as led, led.engine.begin() as conn:
        conn.execute(update(s.promotions).values(passed=1))
    got = reasons(nzeza_live(tmp_path, **configured()))
    assert got[0].startswith("ledger integrity: promotion #1: edited"), got
    assert "its audit entry records" in got[1] and "'passed': False" in got[1], got
