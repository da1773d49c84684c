"""The dependency set installs and imports together, and the light entry points stay light."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

# Top-level packages `import nzeza` and `nzeza --help` must never load. A module counts when its
# top-level name is one of these or starts with one of the prefixes (jupyter_core, nbformat...).
HEAVY = (
    "vectorbt",
    "ccxt",
    "jupyter",
    "jupyterlab",
    "notebook",
    "ipykernel",
    "IPython",
    "ipywidgets",
    "nbformat",
    "nbclient",
    "nbconvert",
    "papermill",
    "numba",
)
HEAVY_PREFIXES = ("jupyter", "nbformat", "nbclient", "nbconvert", "ipykernel", "IPython")


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


def heavy(modules: list[str]) -> list[str]:
    tops = {m.split(".")[0] for m in modules}
    return sorted(t for t in tops if t in HEAVY or t.startswith(HEAVY_PREFIXES))


# Prints the loaded modules at interpreter exit, whatever way the code under test ends
# (argparse's --help and --version end with SystemExit).
_DUMP = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules))))\n"
)


def _modules_after(code: str, argv: list[str] | None = None) -> tuple[list[str], str]:
    cmd = [sys.executable, "-c", _DUMP + code]
    out = subprocess.run([*cmd, *(argv or [])], capture_output=True, text=True, timeout=120)
    marker = out.stderr.rfind("MODULES ")
    assert marker >= 0, f"no module dump (exit {out.returncode}):\n{out.stderr[-2000:]}"
    return json.loads(out.stderr[marker + len("MODULES ") :]), out.stdout


def test_the_probe_sees_a_heavy_import() -> None:
    """The check below can fail: importing ccxt in the probed process is reported."""
    modules, _ = _modules_after("import ccxt")
    assert "ccxt" in heavy(modules)


def test_import_nzeza_is_light() -> None:
    modules, _ = _modules_after("import nzeza, nzeza.domain, nzeza.errors, nzeza.ops")
    assert "nzeza.domain" in modules
    assert heavy(modules) == []


def _console_script() -> Path:
    script = Path(sys.executable).with_name("nzeza")
    if not script.is_file():  # a non-venv interpreter: look on PATH
        found = shutil.which("nzeza")
        assert found, "the `nzeza` console script is not installed (pip install -e .)"
        script = Path(found)
    return script


def test_nzeza_console_script_help_and_version_are_light() -> None:
    """Runs the installed `nzeza` entry point itself (the file pip generated)."""
    script = _console_script()
    run = f"import runpy\nrunpy.run_path({str(script)!r}, run_name='__main__')\n"
    for argv, expect in ((["--help"], "usage: nzeza"), (["--version"], "nzeza ")):
        modules, stdout = _modules_after(f"import sys\nsys.argv[1:] = {argv!r}\n" + run)
        assert expect in stdout
        assert "nzeza.cli" in modules
        assert heavy(modules) == [], f"nzeza {argv[0]} imported {heavy(modules)}"


def test_cli_version_and_help() -> None:
    from nzeza import __version__

    script = str(_console_script())
    out = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert __version__ in out.stdout
    out = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("demo", "config", "paper", "live", "parity", "status", "audit"):
        assert command in out.stdout
    out = subprocess.run([script, "demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--quick" in out.stdout
