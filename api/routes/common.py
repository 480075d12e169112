"""Helpers shared by the resources: query rows as dicts, keyset pages, the limit and time-filter parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request
from psycopg.rows import dict_row

from api import pagination
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


def keyset_page(
    request: Request, query: str, params: dict[str, Any], key: tuple[str, ...], limit: int, cursor: str | None
) -> dict[str, Any]:
    """One page of a keyset-paged list: ``query`` takes the cursor's sort-key values as ``%(c0)s``,
    ``%(c1)s``, ... (null on the first page) and ``%(limit)s``, and orders by the columns ``key``."""
    after = pagination.decode(cursor, len(key)) or [None] * len(key)
    bound = {**params, **{f"c{i}": value for i, value in enumerate(after)}, "limit": limit + 1}
    data, next_cursor = pagination.page(rows(request, query, bound), limit, key)
    return {"data": data, "next_cursor": next_cursor}
