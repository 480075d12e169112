"""Fleet test helpers: clean raw and fleet tables with reference records, and loopback addresses
for fake miners (each fake takes the standard miner ports on its own 127.x address)."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import psycopg
import pytest

from ingestion.loader import ingest_file
from tests.conftest import truncate_schema

REFERENCE = Path(__file__).parent.parent / "ingestion" / "fixtures"
FLEET_TABLES = "ops.fleet_alerts, ops.fleet_commands"

# A /16 of loopback per test process, so parallel sessions on one machine do not collide.
_BLOCK = 18 + (os.getpid() % 200)
_HOSTS = itertools.count(random.randint(1, 200) * 256 + 2)


def loopback() -> str:
    """A fresh 127.x.y.z address, unused in this session."""
    n = next(_HOSTS)
    return f"127.{_BLOCK}.{(n // 256) % 256}.{n % 256 or 1}"


@pytest.fixture()
def fleet_db(conn: psycopg.Connection) -> psycopg.Connection:
    """Empty raw schema and fleet tables, plus the fixture facilities and devices."""
    truncate_schema(conn, "raw")
    conn.execute(f"truncate {FLEET_TABLES} restart identity cascade")
    ingest_file(conn, "facilities", REFERENCE / "facilities.csv")
    ingest_file(conn, "devices", REFERENCE / "devices.csv")
    return conn


@pytest.fixture(scope="session")
def staging_views(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The staging views the controller reads, built once by real dbt."""
    from core.dbt import run_dbt
    from tests.fleet.helpers import STAGING_MODELS

    run_dbt(database_url, "run", "--select", *STAGING_MODELS, target_path=tmp_path_factory.mktemp("dbt"))
    return database_url
