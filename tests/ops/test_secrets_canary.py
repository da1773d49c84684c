"""Canary: a secret set in the environment never appears in a log line, an error message,
`config show` output or exception text produced while using it."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nzeza.errors import ConfigError, NzezaError, ValidationError, VenueError
from nzeza.ops.logging import bind, configure_logging, get_logger
from nzeza.ops.settings import LIVE_CONFIRMATION, load_settings
from nzeza.secrets import clear_secrets, redact

CANARY_KEY = "CanaryKey" + "7" * 55  # 64 chars: well-formed for binance
CANARY_SECRET = "CanarySecret" + "9" * 52
CANARY_MNEMONIC = " ".join(["zebra"] * 23 + ["canaryword"])


@pytest.fixture
def canary_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for key in list(os.environ):
        if key.startswith("NZEZA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    clear_secrets()
    monkeypatch.setenv("NZEZA_BINANCE__API_KEY", CANARY_KEY)
    monkeypatch.setenv("NZEZA_BINANCE__API_SECRET", CANARY_SECRET)
    monkeypatch.setenv("NZEZA_DYDX__MNEMONIC", CANARY_MNEMONIC)
    yield tmp_path
    clear_secrets()


def assert_clean(text: str) -> None:
    for canary in (CANARY_KEY, CANARY_SECRET, CANARY_MNEMONIC, "CanarySecret", "canaryword"):
        assert canary not in text, f"secret leaked: ...{text[:200]}"


def test_settings_repr_and_dump_mask_secrets(canary_env) -> None:
    s = load_settings()
    assert_clean(repr(s))
    assert_clean(str(s.model_dump()))
    assert_clean(s.model_dump_json())


def test_logs_mask_secret_in_message_args_extras_and_exception(canary_env, tmp_path) -> None:
    load_settings()  # registers the secrets
    stream = io.StringIO()
    log_file = tmp_path / "log.jsonl"
    configure_logging("DEBUG", json_file=log_file, stream=stream)
    log = get_logger("canary")
    with bind(session_id="s1", order_id="o1"):
        log.info("connecting with key %s", CANARY_KEY)
        log.warning(f"secret inline {CANARY_SECRET}")
        log.info("extra field", extra={"credential": CANARY_SECRET})
        try:
            raise RuntimeError(f"auth failed for {CANARY_KEY} / {CANARY_MNEMONIC}")
        except RuntimeError:
            log.exception("venue call failed")
    for handler in logging.getLogger("nzeza").handlers:
        handler.flush()
    term = stream.getvalue()
    file_text = log_file.read_text()
    assert "***" in term and "***" in file_text
    assert_clean(term)
    assert_clean(file_text)
    lines = [json.loads(line) for line in file_text.splitlines()]
    assert len(lines) == 4
    assert all(line["session_id"] == "s1" and line["order_id"] == "o1" for line in lines)
    assert "RuntimeError" in lines[-1]["exc"]


def test_errors_never_carry_the_secret(canary_env) -> None:
    load_settings()
    errors: list[NzezaError] = [
        ValidationError("api_key", CANARY_KEY, "rejected by venue"),
        VenueError("binance", f"signature invalid for {CANARY_SECRET}", retryable=False),
        ConfigError("NZEZA_BINANCE__API_SECRET", f"bad value {CANARY_SECRET}"),
    ]
    for err in errors:
        assert_clean(str(err))
        assert_clean(repr(err.args))


def test_bad_secret_in_live_mode_is_not_echoed(canary_env, monkeypatch) -> None:
    from nzeza.errors import LiveTradingNotAllowed

    monkeypatch.setenv("NZEZA_MODE", "live")
    monkeypatch.setenv("NZEZA_LIVE_VENUE", "dydx")
    monkeypatch.setenv("NZEZA_LIVE_CONFIRM", LIVE_CONFIRMATION)
    monkeypatch.setenv("NZEZA_DYDX__MNEMONIC", CANARY_MNEMONIC + " 1")  # malformed
    with pytest.raises(LiveTradingNotAllowed) as err:
        load_settings()
    assert_clean(str(err.value))


def test_config_show_masks(canary_env) -> None:
    env = {k: v for k, v in os.environ.items()}
    for args in (["config", "show"], ["config", "show", "--json"]):
        out = subprocess.run(
            [sys.executable, "-m", "nzeza.cli", *args], capture_output=True, text=True, env=env
        )
        assert out.returncode == 0, out.stderr
        assert "(set, masked)" in out.stdout
        assert_clean(out.stdout + out.stderr)


def test_redact_masks_pem_keys_even_unregistered() -> None:
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBsecretbits\n-----END EC PRIVATE KEY-----"
    assert "secretbits" not in redact(f"key is {pem} ok")


URL_PASSWORD = "Pw-Canary/9@x"  # a slash and an @ inside: URL parsers and regexes trip on both


@pytest.mark.parametrize("as_json", [False, True])
def test_config_show_masks_credentials_inside_urls(canary_env, as_json) -> None:
    """A password in NZEZA_LEDGER_URL or in a venue endpoint is a credential too: `config show`
    printed both in clear (the --json form masked only the first)."""
    env = dict(os.environ)
    env["NZEZA_LEDGER_URL"] = f"postgresql+psycopg://nzeza:{URL_PASSWORD}@127.0.0.1:5432/ledger"
    env["NZEZA_BINANCE__REST_URL"] = f"https://trader:{URL_PASSWORD}@api.example.com/v3"
    env["NZEZA_KRAKEN__WS_URL"] = "wss://ws.example.com/v2?token=TokCanary123456&depth=10"
    args = ["config", "show"] + (["--json"] if as_json else [])
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", *args], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "Pw-Canary" not in text and "TokCanary" not in text, text
    # what is not secret stays readable: scheme, user, host, path
    assert "postgresql+psycopg://nzeza:***@127.0.0.1:5432/ledger" in text
    assert "https://trader:***@api.example.com/v3" in text
    assert "depth=10" in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
        ("https://u:p@ss/w@h.com/x", "https://u:***@h.com/x"),
        ("https://tok_abcdef123456@h.com/x", "https://***@h.com/x"),
        ("postgresql://nzeza@h/db", "postgresql://nzeza@h/db"),
        ("https://h.com/x?api_key=abc123456&a=1", "https://h.com/x?api_key=***&a=1"),
        ("sqlite:///runs/ledger.sqlite", "sqlite:///runs/ledger.sqlite"),
    ],
)
def test_mask_url(url, shown) -> None:
    from nzeza.secrets import mask_url

    assert mask_url(url) == shown


def test_redact_masks_a_whole_url_password_in_free_text() -> None:
    """Logs and errors are free text: the redactor masks up to the URL's last `@`, so a
    password holding `@` or `/` leaves nothing behind."""
    text = redact('connecting to https://u:p@ss/w@h.com/x now; {"url": "postgresql://a:b@c/d"}')
    assert "ss/w" not in text and "p@" not in text and ":b@" not in text
    assert "https://u:***@h.com/x now" in text
