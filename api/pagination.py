"""Opaque cursors for keyset pagination: the sort key of the last row of a page, base64url JSON.

A cursor says where the next page starts, never which rows a key may see: every query still
filters by the key's customer, so a forged cursor only moves within the caller's own rows.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from typing import Any

from fastapi import HTTPException

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, date | datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode(cursor: str | None, size: int) -> list[Any] | None:
    """The values of a cursor of ``size`` sort-key parts, or None for the first page (400 if malformed)."""
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise HTTPException(status_code=400, detail="cursor is malformed: pass next_cursor as returned")
    return values


def page(rows: list[dict], limit: int, key: tuple[str, ...]) -> tuple[list[dict], str | None]:
    """Trim a query's ``limit + 1`` rows to a page; the next cursor when there are more."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode([rows[-1][k] for k in key])
