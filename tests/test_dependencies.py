"""The dependency set installs and imports together, and the light entry points stay light."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("vectorbt", "ccxt", "jupyter", "jupyterlab", "notebook", "papermill", "numba")


def test_cosmpy_and_v4_proto_import_together() -> None:
    # v4-proto >= 8 is generated for protobuf >= 6.30 while cosmpy 0.12 needs protobuf < 6:
    # this fails if a resolver ever picks an incompatible pair.
    import google.protobuf
    from cosmpy.crypto.keypairs import PrivateKey
    from v4_proto.dydxprotocol.clob import order_pb2, tx_pb2

    order = order_pb2.Order(quantums=10, subticks=20, good_til_block=5)
    msg = tx_pb2.MsgPlaceOrder(order=order)
    assert tx_pb2.MsgPlaceOrder.FromString(msg.SerializeToString()).order.quantums == 10
    assert PrivateKey(b"\x01" * 32).public_key.public_key_bytes
    assert int(google.protobuf.__version__.split(".")[0]) == 5


def _imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    mods = json.loads(out.stdout.strip().splitlines()[-1])
    return [m for m in mods if m.split(".")[0] in HEAVY]


def test_import_nzeza_is_light() -> None:
    assert _imported_after("import nzeza, nzeza.domain, nzeza.errors, nzeza.ops") == []


def test_cli_help_is_light() -> None:
    code = (
        "import contextlib, io\nfrom nzeza.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass"
    )
    assert _imported_after(code) == []


def test_cli_version_and_help() -> None:
    from nzeza import __version__

    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert __version__ in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    for command in ("demo", "config"):
        assert command in out.stdout
