"""Database access for the app: one connection per thread, results as pandas frames.

Every statement is a constant with ``%(name)s`` placeholders; identifiers that vary (the columns of
tables other teams still change) come from the catalog through :mod:`psycopg.sql`, never from input.
"""

from __future__ import annotations

import os
import threading
from decimal import Decimal
from typing import Any

import pandas as pd
import psycopg
from psycopg import errors, sql

# A missing relation or column means "that part of the pipeline has not run yet", not a bug.
MISSING = (errors.UndefinedTable, errors.UndefinedColumn, errors.InvalidSchemaName, errors.UndefinedFunction)

_local = threading.local()


def database_url() -> str:
    """The platform database: DATABASE_URL, else the platform's default (embedded server)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from orchestration.db import database_url as platform_url

    return platform_url()


def _connection() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    url = database_url()
    if conn is None or conn.closed or getattr(_local, "url", None) != url:
        conn = psycopg.connect(url, autocommit=True, application_name="hcp-streamlit")
        _local.conn, _local.url = conn, url
    return conn


def reset() -> None:
    """Close this thread's connection (tests switch databases)."""
    conn = getattr(_local, "conn", None)
    if conn is not None and not conn.closed:
        conn.close()
    _local.conn = None


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def frame(query: str | sql.Composable, params: dict | None = None) -> pd.DataFrame:
    """Rows of a read-only query as a DataFrame (NUMERIC as float); empty when a table is missing."""
    try:
        cur = _connection().execute(query, params or {})
    except MISSING:
        return pd.DataFrame()
    except psycopg.OperationalError:
        reset()
        cur = _connection().execute(query, params or {})
    columns = [c.name for c in cur.description or []]
    rows = [[_plain(v) for v in row] for row in cur.fetchall()]
    return pd.DataFrame(rows, columns=columns)


def execute(query: str | sql.Composable, params: dict | None = None) -> list[tuple]:
    """Run a statement (writes: users, sessions, audit) and return its rows, if any."""
    cur = _connection().execute(query, params or {})
    return cur.fetchall() if cur.description else []


def columns(schema: str, table: str) -> list[str]:
    """Column names of ``schema.table`` in order; empty when it does not exist."""
    rows = execute(
        "select column_name from information_schema.columns "
        "where table_schema = %(schema)s and table_name = %(table)s order by ordinal_position",
        {"schema": schema, "table": table},
    )
    return [r[0] for r in rows]


def pick(available: list[str], *candidates: str) -> str | None:
    """The first candidate column that exists in ``available``."""
    return next((c for c in candidates if c in available), None)


def ident(*parts: str) -> sql.Identifier:
    """A quoted identifier (schema, table or column) from the catalog."""
    return sql.Identifier(*parts)
