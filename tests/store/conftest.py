from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from nzeza.store import Ledger
from nzeza.store.connection import make_engine
from nzeza.store.schema import metadata


def in_ci() -> bool:
    """CI=true (what .ci/run sets; also 1 / yes, as other CI systems set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


_WORKER_DBS: dict[str, str] = {}


def _pg_url() -> str | None:
    url = os.environ.get("NZEZA_TEST_PG_URL", "").strip()
    if not url and in_ci():
        # in CI a skip would hide that the PostgreSQL half of the ledger suite never ran
        pytest.fail("CI must run the ledger suite on PostgreSQL: NZEZA_TEST_PG_URL is not set")
    return _worker_database(url) if url else None


def _worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets a database of its own (`<db>_gw0`, created on first
    use): every PostgreSQL test starts from an empty schema, which two workers sharing one
    database would wipe under each other."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker:
        return url
    if url not in _WORKER_DBS:
        base, _, name = url.rpartition("/")
        db = f"{name}_{worker}"
        engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": db})
            if exists.scalar() is None:
                conn.execute(text(f'CREATE DATABASE "{db}"'))
        engine.dispose()
        _WORKER_DBS[url] = f"{base}/{db}"
    return _WORKER_DBS[url]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    url = _pg_url()
    if not url:
        pytest.skip(
            "PostgreSQL not configured: "
            "export NZEZA_TEST_PG_URL=$(bash scripts/ci_postgres.sh | tail -1)"
        )
    engine = make_engine(url)  # not a Ledger: it would migrate (or refuse) what is there
    with engine.begin() as conn:  # a clean database for every test
        metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS schema_version"))
    engine.dispose()
    yield url


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger(ledger_url) as led:
        yield led
