"""A database of its own for the quality tests: they truncate raw tables and create mart tables."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core.db import with_database
from core.dbt import build_staging
from core.migrate import migrate


@pytest.fixture(scope="session")
def quality_url(database_url: str) -> Iterator[str]:
    name = "hcp_quality_tests"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.execute(f'create database "{name}"')
    url = with_database(database_url, name)
    migrate(url)
    build_staging(url, target_path=Path(tempfile.mkdtemp(prefix="hcp-quality-dbt-")))
    yield url
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture()
def qconn(quality_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(quality_url, autocommit=True) as connection:
        yield connection
