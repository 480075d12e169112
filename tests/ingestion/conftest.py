"""Ingestion test helpers: a clean raw schema and the reference records telemetry needs."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from ingestion.loader import ingest_file
from tests.conftest import truncate_schema

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture()
def raw(conn: psycopg.Connection) -> psycopg.Connection:
    """The connection, with the raw schema emptied."""
    truncate_schema(conn, "raw")
    return conn


@pytest.fixture()
def reference(raw: psycopg.Connection) -> psycopg.Connection:
    """Empty raw schema plus the fixture facilities and devices."""
    ingest_file(raw, "facilities", FIXTURES / "facilities.csv")
    ingest_file(raw, "devices", FIXTURES / "devices.csv")
    return raw
