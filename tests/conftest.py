"""Suite-wide settings of this test session.

- The trial registry is a temporary ledger of its own. Every backtest, sweep and validation
  registers its trials in the configured ledger (`NZEZA_LEDGER_URL`, default
  `runs/ledger.sqlite`); without this, running the suite would add its trials to the
  developer's own registry and inflate the counts of real groups. Subprocesses inherit it; tests
  that examine the registry pass a ledger of their own.
- The ledger audit chain's key and anchors live in a directory of this run: `XDG_CONFIG_HOME`
  (not an `NZEZA_` variable, which many tests strip from the environment of the processes they
  start) points the default audit directory (`nzeza.ops.settings.default_audit_dir`) at a
  temporary folder, so the suite never writes a key or anchors into the user's own config
  directory, and every process it starts shares the run's key.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_DIR = Path(tempfile.mkdtemp(prefix="nzeza-test-ledger-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
os.environ["NZEZA_LEDGER_URL"] = f"sqlite:///{_DIR / 'ledger.sqlite'}"


@pytest.fixture(autouse=True, scope="session")
def _audit_dir_of_this_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    before = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    if before is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = before
