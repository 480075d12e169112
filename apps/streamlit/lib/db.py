"""Database access for the app: a psycopg_pool connection pool, results as pandas frames.

Every statement is a constant with ``%(name)s`` placeholders; identifiers that vary (the columns of
tables other teams still change) come from the catalog through :mod:`psycopg.sql`, never from input.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pandas as pd
import psycopg
from psycopg import errors, sql
from psycopg_pool import ConnectionPool

# A missing relation or column means "that part of the pipeline has not run yet", not a bug.
MISSING = (errors.UndefinedTable, errors.UndefinedColumn, errors.InvalidSchemaName, errors.UndefinedFunction)

T = TypeVar("T")
_POOL_SIZE = 8
_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def database_url() -> str:
    """The platform database (DATABASE_URL, else the embedded server) as the app's own role,
    ``hcp_app``: it reads marts and writes only the app's tables."""
    from core.roles import APP_ROLE, role_url

    url = os.environ.get("DATABASE_URL")
    if not url:
        from core.db import database_url as platform_url

        url = platform_url()
    return role_url(url, APP_ROLE)


def _pool(url: str) -> ConnectionPool:
    with _lock:
        pool = _pools.get(url)
        if pool is None:
            # one direct connection first: its error says what is wrong (the pool would only time out)
            psycopg.connect(url, connect_timeout=10).close()
            pool = ConnectionPool(
                url,
                min_size=0,
                max_size=_POOL_SIZE,
                kwargs={"autocommit": True, "application_name": "hcp-streamlit"},
                check=ConnectionPool.check_connection,  # a connection the server dropped is replaced
                open=True,
            )
            _pools[url] = pool
        return pool


@contextlib.contextmanager
def _connection() -> Iterator[psycopg.Connection]:
    """An autocommit connection from the pool (psycopg_pool) shared by the app's script threads."""
    with _pool(database_url()).connection() as conn:
        yield conn


def reset() -> None:
    """Close the pools (tests switch databases)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def frame(query: str | sql.Composable, params: dict | None = None) -> pd.DataFrame:
    """Rows of a read-only query as a DataFrame (NUMERIC as float); empty when a table is missing."""
    for attempt in (1, 2):  # once more on a fresh connection if a pooled one went stale
        try:
            with _connection() as conn:
                cur = conn.execute(query, params or {})
                columns = [c.name for c in cur.description or []]
                rows = [[_plain(v) for v in row] for row in cur.fetchall()]
            return pd.DataFrame(rows, columns=columns)
        except MISSING:
            return pd.DataFrame()
        except psycopg.OperationalError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def execute(query: str | sql.Composable, params: dict | None = None) -> list[tuple]:
    """Run a statement (writes: users, sessions, audit) and return its rows, if any."""
    with _connection() as conn:
        cur = conn.execute(query, params or {})
        return cur.fetchall() if cur.description else []


def with_connection(fn: Callable[[psycopg.Connection], T]) -> T:
    """Call ``fn`` with a pooled connection: for the platform's own readers (billing reports)."""
    with _connection() as conn:
        return fn(conn)
