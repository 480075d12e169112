"""Fleet test helpers: reference records in the test's own database, and loopback addresses for
fake miners (each fake takes the standard miner ports on its own 127.x address)."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import psycopg
import pytest

from ingestion.loader import ingest_file

REFERENCE = Path(__file__).parent.parent / "ingestion" / "fixtures"

# A /16 of loopback per test process, so parallel sessions on one machine do not collide.
_BLOCK = 18 + (os.getpid() % 200)
_HOSTS = itertools.count(random.randint(1, 200) * 256 + 2)


def loopback() -> str:
    """A fresh 127.x.y.z address, unused in this session."""
    n = next(_HOSTS)
    return f"127.{_BLOCK}.{(n // 256) % 256}.{n % 256 or 1}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every fleet test that touches the database gets a copy of its own (commands, alerts, polls)."""
    for item in items:
        if "fleet_db" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.fresh_database)


@pytest.fixture()
def fleet_db(conn: psycopg.Connection) -> psycopg.Connection:
    """The test's own database (empty raw and fleet tables) with the fixture facilities and devices."""
    ingest_file(conn, "facilities", REFERENCE / "facilities.csv")
    ingest_file(conn, "devices", REFERENCE / "devices.csv")
    return conn


@pytest.fixture()
def staging_views(database_url: str, conn: psycopg.Connection) -> str:
    """The staging views the controller reads: built by real dbt into the migrated template."""
    from tests.fleet.helpers import STAGING_MODELS

    found = {
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.views where table_schema = 'staging'"
        )
    }
    assert set(STAGING_MODELS) <= found, (
        f"staging views missing from the template: {set(STAGING_MODELS) - found}"
    )
    return database_url
