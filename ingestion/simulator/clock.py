"""The simulation's time grid: interval starts in UTC and the UTC days they fall on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np


@dataclass(frozen=True)
class Clock:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    interval_minutes: int

    @property
    def n(self) -> int:
        """Number of telemetry intervals in [start, end)."""
        return int((self.end - self.start) / timedelta(minutes=self.interval_minutes))

    @property
    def start_epoch(self) -> int:
        return int(self.start.timestamp())

    @property
    def epochs(self) -> np.ndarray:
        """Interval starts as epoch seconds (int64[T])."""
        return self.start_epoch + np.arange(self.n, dtype=np.int64) * self.interval_minutes * 60

    @property
    def per_day(self) -> int:
        return 1440 // self.interval_minutes

    def days(self) -> list[date]:
        """The UTC dates the period covers, in order."""
        n_days = (self.end - self.start).days
        return [(self.start + timedelta(days=i)).date() for i in range(n_days)]

    def day_of(self, t: np.ndarray) -> np.ndarray:
        """Index of the UTC day of each interval index."""
        return np.asarray(t) // self.per_day


def make_clock(end: datetime | None, days: int, interval_minutes: int) -> Clock:
    """Clock for [end - days, end); end defaults to today 00:00 UTC, naive times are read as UTC."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if interval_minutes < 1 or 60 % interval_minutes:
        raise ValueError("interval_minutes must divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)")
    if end is None:
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    end = end.astimezone(UTC)
    # Days are whole so every daily file is complete; midnight keeps files and UTC days aligned.
    end = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return Clock(end - timedelta(days=days), end, interval_minutes)


def iso_z(epochs: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC strings ('2026-11-01T05:00:00Z') for epoch seconds."""
    return np.datetime_as_string(np.asarray(epochs, dtype="datetime64[s]"), unit="s").astype(object) + "Z"
