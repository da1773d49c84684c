"""Suite-wide: the ledger audit chain's key and anchors live in a directory of this run.

`XDG_CONFIG_HOME` (not an `NZEZA_` variable, which many tests strip from the environment of
the processes they start) points the default audit directory (`nzeza.ops.settings.
default_audit_dir`) at a temporary folder, so the suite never writes a key or anchors into the
user's own config directory, and every process it starts shares the run's key."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _audit_dir_of_this_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    before = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    if before is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = before
