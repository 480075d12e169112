"""Ingestion test helpers: the test's own, empty database and the reference records telemetry needs."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from ingestion.loader import ingest_file

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture()
def raw(request: pytest.FixtureRequest, conn: psycopg.Connection) -> psycopg.Connection:
    """The connection to a database made for this test: its raw schema is empty."""
    if request.node.get_closest_marker("fresh_database") is None:
        pytest.fail("the `raw` fixture needs its module marked `fresh_database`", pytrace=False)
    return conn


@pytest.fixture()
def reference(raw: psycopg.Connection) -> psycopg.Connection:
    """The empty raw schema plus the fixture facilities and devices."""
    ingest_file(raw, "facilities", FIXTURES / "facilities.csv")
    ingest_file(raw, "devices", FIXTURES / "devices.csv")
    return raw
