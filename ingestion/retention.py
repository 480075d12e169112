"""Retention of the partitioned raw tables: day partitions older than ``keep_days`` are dropped once
the hourly mart holds their hours (the marts keep hourly and daily grain for the long history).
``raw.fleet_status`` feeds no mart (only its latest polls are read), so its old days go by age alone.

A day is covered when every hour that has raw rows has rows in ``marts.fct_device_hourly``; both
sides are probed hour by hour through their time indexes, so the check reads no partition whole.
If any old day is not covered, nothing is dropped and :class:`PruneRefused` names the days.
Partitions are detached and dropped by raw.drop_day_partition (migration 0019), which runs as the
table's owner: the nightly job runs as the pipeline role.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

from ingestion.bulk import create_partitions
from ingestion.tables import TABLES

# Partitioned raw table -> the mart (and its hour column) that must hold a day before it is dropped;
# None: nothing is built from its old days.
COVERED_BY: dict[str, tuple[str, str, str] | None] = {
    "device_telemetry": ("marts", "fct_device_hourly", "hour_start_at"),
    "fleet_status": None,
}
_DAY = re.compile(r"_p(\d{8})$")


class PruneRefused(Exception):
    """Old partitions whose hours the marts do not hold yet; nothing was dropped."""


@dataclass
class PruneResult:
    """Partitions dropped (or that would be, on a dry run), per table."""

    keep_days: int
    cutoff: str
    dropped: dict[str, list[str]] = field(default_factory=dict)
    dry_run: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def day_partitions(conn: psycopg.Connection, table: str, schema: str = "raw") -> dict[date, str]:
    """The day partitions of ``schema.table``: day -> partition name."""
    rows = conn.execute(
        """select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
           where i.inhparent = %s::regclass""",
        (f"{schema}.{table}",),
    ).fetchall()
    return {
        datetime.strptime(match[1], "%Y%m%d").date(): name for (name,) in rows if (match := _DAY.search(name))
    }


def uncovered_hours(conn: psycopg.Connection, table: str, day: date, schema: str = "raw") -> list[datetime]:
    """Hours of ``day`` (UTC) with rows in the raw table but none in the mart that covers it."""
    mart_schema, mart, hour_column = COVERED_BY[table]
    time_column = TABLES[table].time_column
    query = sql.SQL(
        """select h from generate_series(%(day)s::timestamptz, %(day)s::timestamptz + interval '23 hours',
                                          interval '1 hour') as h
           where exists (select 1 from {raw} where {t} >= h and {t} < h + interval '1 hour')
             and not exists (select 1 from {mart} where {hour} >= h and {hour} < h + interval '1 hour')
           order by h"""
    ).format(
        raw=sql.Identifier(schema, table),
        t=sql.Identifier(time_column),
        mart=sql.Identifier(mart_schema, mart),
        hour=sql.Identifier(hour_column),
    )
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [h for (h,) in conn.execute(query, {"day": start})]


def prune(url: str, keep_days: int, *, now: datetime | None = None, dry_run: bool = False) -> PruneResult:
    """Drop raw day partitions older than ``keep_days`` days (before today's UTC date minus
    ``keep_days``) once the marts hold them; raises PruneRefused (dropping nothing) otherwise."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1: today's partition is still being loaded")
    cutoff = (now or datetime.now(UTC)).astimezone(UTC).date() - timedelta(days=keep_days)
    result = PruneResult(keep_days, cutoff.isoformat(), dry_run=dry_run)
    with psycopg.connect(url, autocommit=True) as conn:
        old = {table: _old_partitions(conn, table, cutoff) for table in COVERED_BY}
        missing = _not_covered(conn, old)
        if missing:
            raise PruneRefused(
                "not pruning: the hourly mart does not hold these raw days yet (build the marts, e.g."
                " `hcp materialize`, then prune again): " + "; ".join(missing)
            )
        for table, days in old.items():
            result.dropped[table] = [name for _, name in days]
            if not dry_run:
                for _, name in days:
                    _drop(conn, table, name)
    return result


def _old_partitions(conn: psycopg.Connection, table: str, cutoff: date) -> list[tuple[date, str]]:
    return sorted((day, name) for day, name in day_partitions(conn, table).items() if day < cutoff)


def _not_covered(conn: psycopg.Connection, old: dict[str, list[tuple[date, str]]]) -> list[str]:
    missing = []
    for table, days in old.items():
        if not days or COVERED_BY[table] is None:
            continue
        mart_schema, mart, _ = COVERED_BY[table]
        if conn.execute("select to_regclass(%s)", (f"{mart_schema}.{mart}",)).fetchone()[0] is None:
            return [f"raw.{table} {days[0][0]}..{days[-1][0]}: {mart_schema}.{mart} does not exist"]
        for day, _ in days:
            hours = uncovered_hours(conn, table, day)
            if hours:
                missing.append(
                    f"raw.{table} {day} ({len(hours)} hours missing from {mart_schema}.{mart},"
                    f" first {hours[0].astimezone(UTC):%H:%M} UTC)"
                )
    return missing


def _drop(conn: psycopg.Connection, table: str, partition: str) -> None:
    """Detach and drop one day partition, through the owner's function (migration 0019): the
    pipeline role runs the nightly prune and does not own the table."""
    conn.execute("select raw.drop_day_partition(%s::regclass, %s)", (f"raw.{table}", partition))


def create_ahead(url: str, days: int = 2, *, now: datetime | None = None) -> int:
    """Create today's and the next ``days`` days' partitions of every partitioned raw table, so the
    hourly loads find them in place; returns how many were made."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    ahead = [today + timedelta(days=n) for n in range(days + 1)]
    with psycopg.connect(url, autocommit=True) as conn:
        return sum(create_partitions(conn, "raw", TABLES[table], ahead) for table in COVERED_BY)
