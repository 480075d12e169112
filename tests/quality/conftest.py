"""The quality tests work on a database of their own per test (their modules are marked
``fresh_database``): each test loads a few clean rows and injects one defect."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture()
def quality_url(database_url: str) -> str:
    return database_url


@pytest.fixture()
def qconn(conn: psycopg.Connection) -> psycopg.Connection:
    return conn
