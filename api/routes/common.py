"""Helpers shared by the resources: query rows as dicts, the limit and time-filter parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request
from psycopg.rows import dict_row

from api.pagination import DEFAULT_LIMIT, MAX_LIMIT

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
From = Annotated[datetime | None, Query(alias="from", description="inclusive lower bound (ISO 8601)")]
To = Annotated[datetime | None, Query(alias="to", description="exclusive upper bound (ISO 8601)")]
CustomerId = Annotated[
    str | None, Query(description="operator keys: one customer; customer keys: their own or omitted")
]
DEFAULT = DEFAULT_LIMIT


def rows(request: Request, query: str, params: dict[str, Any]) -> list[dict]:
    """Every row of a read-only query, as dicts, on a pooled ``hcp_api`` connection."""
    with request.app.state.pool.connection() as conn:
        return conn.cursor(row_factory=dict_row).execute(query, params).fetchall()
