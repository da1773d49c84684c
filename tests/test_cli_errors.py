"""One clear error per case (issue 18): a one-line `nzeza: error: …` naming the field or the
variable, a non-zero exit, no traceback — for each input that used to end in a traceback."""

from __future__ import annotations

import errno
import re

import pandas as pd
import pytest

from nzeza.cli import main
from nzeza.data import load_sample
from nzeza.errors import ValidationError
from nzeza.research import sweep
from nzeza.strategies import SmaCross


def _one_clear_error(capsys, *names: str) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()[-1]  # after any progress bar
    assert err.startswith("nzeza: error: "), captured.err
    assert "Traceback" not in captured.err and captured.err.count("nzeza: error") == 1
    for name in names:
        assert name in err, (name, err)
    return err


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No NZEZA_* from the developer's shell; the working folder is a fresh one."""
    import os

    for key in list(os.environ):
        if key.startswith("NZEZA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NZEZA_AUDIT_DIR", str(tmp_path / "audit"))
    return tmp_path


def test_invalid_json_in_a_venue_variable(clean_env, capsys, monkeypatch):
    monkeypatch.setenv("NZEZA_BINANCE", '{"api_key": "secret-abc"')  # unclosed
    assert main(["config", "show"]) == 2
    err = _one_clear_error(capsys, "NZEZA_BINANCE", "not valid JSON")
    assert "secret-abc" not in err


def test_a_dotenv_that_is_not_utf8(clean_env, capsys):
    (clean_env / ".env").write_bytes(b"NZEZA_LOG_LEVEL=\xff\xfe\n")
    assert main(["config", "show"]) == 2
    _one_clear_error(capsys, ".env", "not UTF-8")


def test_a_ca_file_that_is_not_pem(clean_env, capsys, monkeypatch):
    bad = clean_env / "ca.txt"
    bad.write_text("not a certificate\n")
    monkeypatch.setenv("NZEZA_CA_FILE", str(bad))
    assert main(["config", "show"]) == 2
    _one_clear_error(capsys, "NZEZA_CA_FILE", "not a PEM bundle")


def test_a_corrupted_ledger_file(clean_env, capsys):
    ledger = clean_env / "ledger.sqlite"
    ledger.write_bytes(b"this is not sqlite" * 400)
    assert main(["status", "--ledger", f"sqlite:///{ledger}"]) == 2
    _one_clear_error(capsys, "NZEZA_LEDGER_URL", "not a readable database")


def test_disk_full_in_the_middle_of_a_replay_session(clean_env, capsys, monkeypatch):
    from nzeza.store.ledger import Ledger

    calls = {"n": 0}
    original = Ledger.record_equity

    def full(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:  # a few bars are written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", "ledger.sqlite")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "record_equity", full)
    args = ["replay", "--strategy", "sma_cross", "--ledger", f"sqlite:///{clean_env / 'l.sqlite'}"]
    assert main(args) == 2
    _one_clear_error(capsys, "disk full", "ledger.sqlite")
    assert calls["n"] == 4


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["backtest", "sma_cross", "--cash", "1e300"], "--cash"),
        (["replay", "--strategy", "sma_cross", "--cash", "1e300"], "--cash"),
        (["backtest", "sma_cross", "--maker-fee", "-0.01"], "--maker-fee"),
        (["replay", "--strategy", "sma_cross", "--taker-fee", "0.5"], "--taker-fee"),
        (["paper", "--strategy", "sma_cross", "--metrics-port", "99999"], "--metrics-port"),
        (["backtest", "sma_cross", "--perp", "binance", "--leverage", "21"], "--leverage"),
        (["replay", "--strategy", "sma_cross", "--perp", "dydx", "--leverage", "-1"], "--leverage"),
        (["replay", "--strategy", "sma_cross", "--perp", "okx"], "--perp"),
        (["backtest", "sma_cross", "--perp", "binance", "--funding", "none.csv"], "--funding"),
        (["backtest", "sma_cross", "--funding", "f.csv"], "--funding"),
    ],
)
def test_out_of_range_flags(clean_env, capsys, args, flag):
    assert main(args) == 2
    _one_clear_error(capsys, f"invalid {flag}=")


def test_a_huge_integer_parameter(clean_env, capsys):
    args = ["backtest", "sma_cross", "--params", "slow=99999999999999999999999", "--last", "300"]
    assert main(args) == 2
    _one_clear_error(capsys, "invalid slow=", "too large")


@pytest.mark.parametrize("name", ["binance_btcusdt_x", "binance"])
def test_feed_replay_of_an_unknown_capture_name(clean_env, capsys, name):
    assert main(["feed", "replay", name]) == 2
    _one_clear_error(capsys, "invalid files=", "binance_btcusdt", "binance_spot_btcusdt_20240808")


def test_feed_replay_takes_a_bundled_feed_name():
    from nzeza.cli.feeds import capture_paths

    names = [p.name for p in capture_paths(["binance_btcusdt", "binance_spot_ethusdt_20240808"])]
    assert names == [
        "binance_spot_btcusdt_20240808.jsonl.gz",
        "binance_spot_btcusdt_20240809.jsonl.gz",
        "binance_spot_ethusdt_20240808.jsonl.gz",
    ]


def test_sweep_of_an_instance_and_a_misspelt_grid_key():
    bars = load_sample("btc_usd_1h").iloc[-300:]
    with pytest.raises(ValidationError) as err:
        sweep(SmaCross(), bars, {"fast": [5]}, register=False)
    assert err.value.field == "strategy_cls" and "not an instance" in str(err.value)
    with pytest.raises(ValidationError) as err:
        sweep(SmaCross, bars, {"fats": [5, 10], "slow": [30]}, register=False)
    assert err.value.field == "grid[fats]" and "valid keys: fast, slow" in str(err.value)


def test_a_misspelt_grid_key_on_the_cli(clean_env, capsys):
    args = ["sweep", "sma_cross", "--grid", "fats=5,10", "slow=30", "--last", "300"]
    assert main([*args, "--ledger", f"sqlite:///{clean_env / 'l.sqlite'}"]) == 2
    _one_clear_error(capsys, "invalid grid[fats]", "valid keys: fast, slow")


def test_a_close_column_is_read_as_close(clean_env, capsys):
    frame = load_sample("btc_usd_1h").iloc[-300:].reset_index()
    frame.columns = ["Date", "Open", "High", "Low", "Close", "Volume"]
    frame["Date"] = frame["Date"].dt.strftime("%Y-%m-%d %H:%M:%S")
    path = clean_env / "mine.csv"
    frame.to_csv(path, index=False)
    args = ["backtest", "sma_cross", "--data", str(path)]
    assert main([*args, "--ledger", f"sqlite:///{clean_env / 'l.sqlite'}"]) == 0
    assert "on mine.csv: 300 bars" in capsys.readouterr().out
    assert isinstance(pd.read_csv(path).columns[4], str)  # the file itself is untouched


def test_a_grid_key_named_like_a_result_column_is_refused():
    from nzeza.strategies import Strategy

    class Sized(Strategy):
        exposure: float = 1.0

        def target(self, bars):
            return bars["close"] * 0 + self.exposure

    bars = load_sample("btc_usd_1h").iloc[-300:]
    with pytest.raises(ValidationError) as err:
        sweep(Sized, bars, {"exposure": [0.5, 1.0]}, register=False)
    assert err.value.field == "grid[exposure]" and "rename the parameter" in str(err.value)


def test_human_numbers_in_tables_full_precision_in_json():
    from nzeza.cli.show import human, table

    assert [human(8.0), human(0.1251029426222024), human(9.99000999000999)] == [
        "8",
        "0.1251",
        "9.99",
    ]
    assert [human(12345.678), human(33259), human(2.0e-15), human(float("nan"))] == [
        "12,345.68",
        "33,259",
        "2e-15",
        "nan",
    ]
    text = table(pd.DataFrame({"trades": [8.0, 12.0], "sharpe": [0.12510294, -1.5]}))
    assert "8.0000" not in text and "0.1251" in text and "0.12510294" not in text


def test_promotions_show_dates_and_gates_as_json(clean_env, capsys):
    import json

    from nzeza.store import Ledger

    url = f"sqlite:///{clean_env / 'l.sqlite'}"
    with Ledger(url) as ledger:
        ledger.add_promotion(
            strategy="sma_cross",
            params={"fast": 10, "slow": 30},
            params_hash="h",
            target="paper",
            data_fingerprint="d",
            notebook_hash="n",
            gates={"verdict": {"passed": False, "detail": "no verdict"}},
            passed=False,
        )
    assert main(["promotions", "--ledger", url, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["gates"] == {"verdict": {"passed": False, "detail": "no verdict"}}
    assert row["params"] == {"fast": 10, "slow": 30} and row["passed"] is False
    assert pd.Timestamp(row["created"]).value == row["created_ns"]
    assert main(["promotions", "--ledger", url]) == 0
    out = capsys.readouterr().out
    assert re.match(r"#1 20\d\d-\d\d-\d\d \d\d:\d\d UTC  sma_cross", out), out
    assert "verdict: no verdict" in out


def test_status_says_which_ledger_it_read_and_where_the_demos_is(clean_env, capsys, monkeypatch):
    csv = clean_env / "bars.csv"
    load_sample("btc_usd_1h").iloc[-500:].reset_index().to_csv(csv, index=False)
    demo = clean_env / "runs" / "demo" / "ledger.sqlite"
    demo.parent.mkdir(parents=True)
    args = ["replay", "--strategy", "sma_cross", "--data", str(csv), "--ledger"]
    assert main([*args, f"sqlite:///{demo}"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("NZEZA_LEDGER_URL", f"sqlite:///{clean_env / 'other.sqlite'}")
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "no sessions in the ledger yet (ledger sqlite:///" in out and "other.sqlite" in out
    assert f"nzeza status --ledger sqlite:///{demo}" in out
    assert main(["status", "--ledger", f"sqlite:///{demo}"]) == 0
    assert re.search(r"qty \d+\.\d{1,8} @ [\d,]+\.\d\d", capsys.readouterr().out)


FEES_COMMANDS = [
    ["backtest", "sma_cross"],
    ["sweep", "sma_cross"],
    ["validate", "sma_cross"],
    ["replay", "--strategy", "sma_cross"],
    ["parity", "sma_cross"],
    ["paper", "--strategy", "sma_cross"],
    ["live", "--strategy", "sma_cross"],
    ["promote", "notebooks/02_research.ipynb", "--to", "paper"],
    ["divergence", "s1"],
]


@pytest.mark.parametrize("command", FEES_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--fees", "binance", "--fee", "0.001"], ["--fees", "--fee"]),  # even the default
        (["--fee", "0.002", "--fees", "dydx"], ["--fees", "--fee"]),
        (["--fees", "dydx", "--maker-fee", "0.0001"], ["--fees", "--maker-fee"]),
        (["--fees", "kraken", "--taker-fee", "0.004"], ["--fees", "--taker-fee"]),
        (["--fees", "okx"], ["--fees='okx'", "binance", "binanceusdm", "coinbase", "dydx"]),
        (["--fees", "binance", "--fees-volume", "3e7"], ["--fees-volume", "confirmed below"]),
        (["--fees", "dydx", "--fees-volume", "-5"], ["--fees-volume", "non-negative"]),
        (["--fees-volume", "1000"], ["--fees-volume", "needs --fees"]),
    ],
)
def test_fees_flag_errors_on_every_command(clean_env, capsys, command, extra, named):
    """`--fees VENUE` beside typed rates is ambiguous, an unknown venue lists the known ones,
    a volume the schedule cannot confirm is refused: on every command, before anything runs
    or is written."""
    ledger = [] if command[0] == "parity" else ["--ledger", f"sqlite:///{clean_env / 'l.sqlite'}"]
    assert main([*command, *extra, *ledger]) == 2
    err = _one_clear_error(capsys, *named)
    assert err.startswith(f"nzeza: error: invalid {named[0].split('=')[0]}=")
    assert not (clean_env / "l.sqlite").exists()  # nothing written
