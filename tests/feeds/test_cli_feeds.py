"""`nzeza feed replay` in a real subprocess, recorded back with `nzeza feed record`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from nzeza.cli import main
from nzeza.feeds.capture import HYPERLIQUID_BTC, bundled, read_capture


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_replay_subprocess_then_record_gives_back_the_capture(tmp_path, capsys):
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nzeza.cli",
            "feed",
            "replay",
            HYPERLIQUID_BTC,
            "--port",
            str(port),
            "--speed",
            "max",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        out = tmp_path / "rec.jsonl"
        sub = '{"method":"subscribe","subscription":{"type":"l2Book","coin":"BTC"}}'
        rc = main(
            [
                "feed",
                "record",
                f"ws://127.0.0.1:{port}/ws",
                "--subscribe",
                sub,
                "--out",
                str(out),
                "--max-messages",
                "55",
                "--duration",
                "20",
            ]
        )
        assert rc == 0 and "recorded 55 messages" in capsys.readouterr().out
        recorded = [raw for _, raw in read_capture(out)]
        original = [raw for _, raw in read_capture(bundled(HYPERLIQUID_BTC))]
        assert recorded == original
    finally:
        proc.terminate()
        proc.wait(10)


def test_bad_speed_is_rejected(capsys):
    try:
        main(["feed", "replay", HYPERLIQUID_BTC, "--speed", "fast"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "speed must be a number or 'max'" in capsys.readouterr().err


def test_replay_fault_flags_reach_the_server(tmp_path, capsys):
    # --drop-every 5: the server closes the connection after 5 messages; the recorder stops.
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nzeza.cli",
            "feed",
            "replay",
            HYPERLIQUID_BTC,
            "--port",
            str(port),
            "--speed",
            "max",
            "--drop-every",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        out = tmp_path / "dropped.jsonl"
        rc = main(
            [
                "feed",
                "record",
                f"ws://127.0.0.1:{port}/ws",
                "--subscribe",
                '{"method":"subscribe","subscription":{"type":"trades","coin":"BTC"}}',
                "--out",
                str(out),
                "--duration",
                "20",
            ]
        )
        assert rc == 0 and "recorded 5 messages" in capsys.readouterr().out
        original = [raw for _, raw in read_capture(bundled(HYPERLIQUID_BTC))]
        assert [raw for _, raw in read_capture(out)] == original[:5]
    finally:
        proc.terminate()
        proc.wait(10)
