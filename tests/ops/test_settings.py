"""Settings: environment and .env, clear errors naming the variable, live gates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nzeza.errors import ConfigError, LiveTradingNotAllowed
from nzeza.ops.settings import LIVE_CONFIRMATION, Mode, Profile, load_settings

BINANCE_KEY = "A" * 32 + "b" * 32
BINANCE_SECRET = "S3cr3t" + "x" * 58


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import os

    for key in list(os.environ):
        if key.upper().startswith("NZEZA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env from the repo
    return tmp_path


def live_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NZEZA_MODE", "live")
    monkeypatch.setenv("NZEZA_LIVE_VENUE", "binance")
    monkeypatch.setenv("NZEZA_LIVE_CONFIRM", LIVE_CONFIRMATION)
    monkeypatch.setenv("NZEZA_BINANCE__API_KEY", BINANCE_KEY)
    monkeypatch.setenv("NZEZA_BINANCE__API_SECRET", BINANCE_SECRET)


def test_defaults_are_paper_dev() -> None:
    s = load_settings()
    assert s.mode is Mode.PAPER
    assert s.profile is Profile.DEV
    assert s.effective_ledger_url.startswith("sqlite:///")


def test_env_file_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text("NZEZA_MODE=replay\nNZEZA_PROFILE=staging\n")
    s = load_settings()
    assert s.mode is Mode.REPLAY
    assert s.profile is Profile.STAGING


def test_unknown_mode_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NZEZA_MODE", "yolo")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.variable == "NZEZA_MODE"
    assert "replay, paper or live" in str(err.value)


def test_bad_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NZEZA_METRICS_PORT", "99999")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.variable == "NZEZA_METRICS_PORT"


def test_live_with_everything_in_place_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    live_env(monkeypatch)
    assert load_settings().mode is Mode.LIVE


def test_live_http_endpoint_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    live_env(monkeypatch)
    monkeypatch.setenv("NZEZA_BINANCE__REST_URL", "http://api.binance.com")
    with pytest.raises(LiveTradingNotAllowed) as err:
        load_settings()
    assert any("NZEZA_BINANCE__REST_URL" in r and "https" in r for r in err.value.reasons)


def test_live_ws_endpoint_must_be_wss(monkeypatch: pytest.MonkeyPatch) -> None:
    live_env(monkeypatch)
    monkeypatch.setenv("NZEZA_BINANCE__WS_URL", "ws://127.0.0.1:9000")
    with pytest.raises(LiveTradingNotAllowed) as err:
        load_settings()
    assert any("NZEZA_BINANCE__WS_URL" in r for r in err.value.reasons)


def test_live_missing_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    live_env(monkeypatch)
    monkeypatch.delenv("NZEZA_BINANCE__API_SECRET")
    with pytest.raises(LiveTradingNotAllowed) as err:
        load_settings()
    assert err.value.reasons == ["NZEZA_BINANCE__API_SECRET is missing"]


def test_live_malformed_credential_does_not_echo_it(monkeypatch: pytest.MonkeyPatch) -> None:
    live_env(monkeypatch)
    monkeypatch.setenv("NZEZA_BINANCE__API_KEY", "short-key-value")
    with pytest.raises(LiveTradingNotAllowed) as err:
        load_settings()
    text = str(err.value)
    assert "NZEZA_BINANCE__API_KEY is malformed" in text
    assert "short-key-value" not in text


def test_live_needs_explicit_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    live_env(monkeypatch)
    monkeypatch.setenv("NZEZA_LIVE_CONFIRM", "yes")
    with pytest.raises(LiveTradingNotAllowed) as err:
        load_settings()
    assert any("NZEZA_LIVE_CONFIRM" in r for r in err.value.reasons)


@pytest.mark.parametrize(
    ("venue", "env", "problem"),
    [
        (
            "dydx",
            {"NZEZA_DYDX__MNEMONIC": "only three words", "NZEZA_DYDX__CHAIN_ID": "dydx-mainnet-1"},
            "NZEZA_DYDX__MNEMONIC is malformed",
        ),
        (
            "dydx",
            {"NZEZA_DYDX__MNEMONIC": " ".join(["abandon"] * 24)},
            "NZEZA_DYDX__CHAIN_ID is missing",
        ),
        (
            "hyperliquid",
            {"NZEZA_HYPERLIQUID__PRIVATE_KEY": "0x1234"},
            "NZEZA_HYPERLIQUID__PRIVATE_KEY is malformed",
        ),
        (
            "coinbase",
            {"NZEZA_COINBASE__API_KEY": "organizations/o/apiKeys/k"},
            "NZEZA_COINBASE__API_SECRET is missing",
        ),
        (
            "kraken",
            {"NZEZA_KRAKEN__API_KEY": "k" * 56, "NZEZA_KRAKEN__API_SECRET": "not base64 !!" * 4},
            "NZEZA_KRAKEN__API_SECRET is malformed",
        ),
    ],
)
def test_credential_shapes_per_venue(monkeypatch, venue, env, problem) -> None:
    monkeypatch.setenv("NZEZA_MODE", "live")
    monkeypatch.setenv("NZEZA_LIVE_VENUE", venue)
    monkeypatch.setenv("NZEZA_LIVE_CONFIRM", LIVE_CONFIRMATION)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(LiveTradingNotAllowed) as err:
        load_settings()
    assert any(r.startswith(problem) for r in err.value.reasons), err.value.reasons


def _cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "nzeza.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
    )


def test_config_check_exits_non_zero_with_reason(clean_env: Path) -> None:
    bad = _cli("config", "check", env={"NZEZA_MODE": "nope"}, cwd=clean_env)
    assert bad.returncode != 0
    assert "NZEZA_MODE" in bad.stderr
    good = _cli("config", "check", cwd=clean_env)
    assert good.returncode == 0, good.stderr
    assert "config ok" in good.stdout


def test_open_orders_on_stop_defaults_to_cancel_and_is_validated(monkeypatch) -> None:
    assert load_settings().open_orders_on_stop == "cancel"
    monkeypatch.setenv("NZEZA_OPEN_ORDERS_ON_STOP", "keep")
    assert load_settings().open_orders_on_stop == "keep"
    monkeypatch.setenv("NZEZA_OPEN_ORDERS_ON_STOP", "forget")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.variable == "NZEZA_OPEN_ORDERS_ON_STOP"
    assert "cancel or keep" in str(err.value)


def test_ca_file_must_exist(monkeypatch, clean_env: Path) -> None:
    monkeypatch.setenv("NZEZA_CA_FILE", str(clean_env / "missing.pem"))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.variable == "NZEZA_CA_FILE"
    (clean_env / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")  # a PEM header only
    monkeypatch.setenv("NZEZA_CA_FILE", str(clean_env / "ca.pem"))
    with pytest.raises(ConfigError, match="not a PEM bundle"):
        load_settings()
    from engine.test_live_session import make_tls_files

    ca_file, _, _ = make_tls_files(clean_env)
    monkeypatch.setenv("NZEZA_CA_FILE", str(ca_file))
    assert load_settings().ca_file == ca_file


def test_each_bad_setting_gives_one_error_naming_the_variable(monkeypatch) -> None:
    """Unknown mode, http endpoint in live, missing or malformed credential: one clear error
    each, naming the variable (and for config errors, how to fix it)."""
    cases = [
        ({"NZEZA_MODE": "yolo"}, ConfigError, ["NZEZA_MODE"]),
        ({"NZEZA_PROFILE": "prod"}, ConfigError, ["NZEZA_PROFILE"]),
        ({"NZEZA_LOG_LEVEL": "LOUD"}, ConfigError, ["NZEZA_LOG_LEVEL"]),
        ({"NZEZA_LIVE_VENUE": "ftx"}, ConfigError, ["NZEZA_LIVE_VENUE"]),
        ({"NZEZA_BINANCE__REST_URL": "http://api.binance.com"}, LiveTradingNotAllowed, []),
        ({"NZEZA_BINANCE__API_SECRET": ""}, LiveTradingNotAllowed, []),
        ({"NZEZA_BINANCE__API_KEY": "short"}, LiveTradingNotAllowed, []),
    ]
    expected_live = {
        "NZEZA_BINANCE__REST_URL": "NZEZA_BINANCE__REST_URL must be a https:// endpoint",
        "NZEZA_BINANCE__API_SECRET": "NZEZA_BINANCE__API_SECRET is missing",
        "NZEZA_BINANCE__API_KEY": "NZEZA_BINANCE__API_KEY is malformed",
    }
    for env, error, names in cases:
        with monkeypatch.context() as m:
            live_env(m)
            for k, v in env.items():
                m.setenv(k, v)
            with pytest.raises(error) as err:
                load_settings()
        if error is ConfigError:
            assert err.value.variable == names[0]
            assert str(err.value).startswith(f"{names[0]}: ") and "; " in str(err.value)
        else:
            [variable] = env
            assert len(err.value.reasons) == 1, err.value.reasons
            assert err.value.reasons[0].startswith(expected_live[variable])
