"""Billing periods: calendar months in the customer's time zone, stored as UTC instants."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def parse_period(period: str) -> tuple[int, int]:
    """``(year, month)`` of ``YYYY-MM``; raises ValueError naming the bad value."""
    match = _PERIOD.match(period or "")
    if not match or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"period {period!r} is not YYYY-MM")
    return int(match[1]), int(match[2])


def period_bounds(period: str, timezone: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of the month in ``timezone``, as aware UTC datetimes."""
    year, month = parse_period(period)
    zone = ZoneInfo(timezone)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def period_of(instant: datetime, timezone: str = "UTC") -> str:
    """The ``YYYY-MM`` period that contains ``instant`` in ``timezone``."""
    local = instant.astimezone(ZoneInfo(timezone))
    return f"{local.year:04d}-{local.month:02d}"


def previous_period(instant: datetime | None = None) -> str:
    """The calendar month before the one containing ``instant`` (default: now), in UTC."""
    now = instant or datetime.now(UTC)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"
