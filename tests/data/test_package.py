"""`import nzeza.data` stays light: no ccxt, vectorbt or network at import."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_nzeza_data_does_not_import_ccxt() -> None:
    code = (
        "import sys, json, nzeza.data\n"
        "from nzeza.data import load_sample, validate_ohlcv\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('ccxt', 'vectorbt', 'numba', 'requests', 'aiohttp'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_public_api() -> None:
    import nzeza.data as data

    for name in (
        "load_sample",
        "list_samples",
        "validate_ohlcv",
        "OhlcvReport",
        "OhlcvValidationError",
        "parse_timeframe",
        "Timeframe",
        "download_ohlcv",
        "fetch_ohlcv_to_cache",
        "DownloadResult",
        "cache_path",
        "read_cache",
    ):
        assert name in data.__all__ and hasattr(data, name)
