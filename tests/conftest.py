"""Shared fixtures: one real PostgreSQL for the whole session.

Without ``DATABASE_URL`` an embedded PostgreSQL server is started in a temporary data folder and
stopped at the end; with it, a fresh database is created on that server and dropped at the end.
Either way ``DATABASE_URL`` is set for the session, so subprocesses (the CLI, dbt, Dagster) use the
same database.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core import db
from core.dbt import build_staging
from core.migrate import migrate
from core.settings import get_settings


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("hcp-home")
    external = os.environ.get("DATABASE_URL")
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "HCP_HOME", "HCP_ENV", "HCP_PII_KEY")}
    os.environ["HCP_HOME"] = str(home)
    os.environ["HCP_ENV"] = "ci"
    os.environ.setdefault("HCP_PII_KEY", base64.b64encode(b"k" * 32).decode())
    if external:
        name = f"hcp_test_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(external, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        url = db.with_database(external, name)
    else:
        # Not under pytest's basetemp: pytest resets /tmp/pytest-of-<user> to mode 0700 whenever a
        # session starts, which would lock the server's own system user out of its data folder.
        pgdata = Path(tempfile.mkdtemp(prefix="hcp-test-pg-")) / "pgdata"
        url = db.start_embedded(pgdata)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    migrate(url)
    # Python reads dbt staging, never raw: its views must exist before a test loads raw rows.
    build_staging(url, target_path=Path(tempfile.mkdtemp(prefix="hcp-test-dbt-")))
    try:
        yield url
    finally:
        if external:
            with psycopg.connect(external, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
        else:
            db.stop_embedded(pgdata)
            shutil.rmtree(pgdata.parent, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@pytest.fixture()
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection in autocommit mode; tests that need a clean slate call ``truncate_raw``."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def truncate_schema(conn: psycopg.Connection, schema: str) -> None:
    """Empty every table of ``schema`` (identities restart)."""
    tables = [
        row[0]
        for row in conn.execute(
            "select format('%%I.%%I', schemaname, tablename) from pg_tables where schemaname = %s", (schema,)
        )
    ]
    if tables:
        # the billing and audit tables refuse TRUNCATE (triggers); a test reset is the superuser's
        # maintenance path, which switches triggers off for this statement only
        conn.execute("set session_replication_role = replica")
        try:
            conn.execute(f"truncate {', '.join(tables)} restart identity cascade")
        finally:
            conn.execute("set session_replication_role = default")
