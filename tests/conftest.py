"""Suite-wide: this test session's trial registry is a temporary ledger of its own.

Every backtest, sweep and validation registers its trials in the configured ledger
(`NZEZA_LEDGER_URL`, default `runs/ledger.sqlite`). Without this, running the suite would add
its trials to the developer's own registry and inflate the counts of real groups. Subprocesses
inherit it; tests that examine the registry pass a ledger of their own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_DIR = Path(tempfile.mkdtemp(prefix="nzeza-test-ledger-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
os.environ["NZEZA_LEDGER_URL"] = f"sqlite:///{_DIR / 'ledger.sqlite'}"
