"""The bulk path for the high-volume raw tables (those with a unique key in ``tables.py``): a file is
streamed chunk by chunk into temporary tables (valid rows and rejects), the day partitions it needs
are created, and one short transaction moves the rows with ``INSERT ... ON CONFLICT DO NOTHING``.

Duplicates are found by the table's unique key (natural key + a hash of the stored row) in the
database, nothing is read back into Python, and no lock serializes loads of the same table: loads
of different files run side by side (two loads of the same row: the second waits for the first's
commit on the unique index, then counts the row as a duplicate).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from ingestion.formats.base import Parsed
from ingestion.pgcopy import copy_frame
from ingestion.tables import Table
from ingestion.validation import KNOWN_IDS, validate

REJECT_TYPES = {"line_no": "int", "field": "text", "reason": "text", "raw_record": "text"}


@dataclass
class Staged:
    """What a file put into the temporary tables: row counts and the UTC days of its valid rows."""

    rows: int = 0
    rejects: int = 0
    days: set = field(default_factory=set)


def stage_names(table: Table) -> tuple[sql.Composable, sql.Composable]:
    """The temporary tables of a load into ``table``: its valid rows and its rejects."""
    return sql.Identifier("pg_temp", f"load_{table.name}"), sql.Identifier(
        "pg_temp", f"load_{table.name}_rejects"
    )


def create_stage(conn: psycopg.Connection, schema: str, table: Table, *, rows_table: bool = True) -> None:
    """Empty temporary tables for one load: its rejects, and (``rows_table``) its valid rows typed
    like the target table."""
    rows, rejects = stage_names(table)
    conn.execute(sql.SQL("drop table if exists {}, {}").format(rows, rejects))
    if rows_table:
        conn.execute(
            sql.SQL("create temp table {} as select {} from {} with no data").format(
                rows, sql.SQL(", ").join(map(sql.Identifier, table.names)), sql.Identifier(schema, table.name)
            )
        )
    conn.execute(
        sql.SQL("create temp table {} (line_no int, field text, reason text, raw_record text)").format(
            rejects
        )
    )


def drop_stage(conn: psycopg.Connection, table: Table) -> None:
    conn.execute(sql.SQL("drop table if exists {}, {}").format(*stage_names(table)))


def stage_rejects(conn: psycopg.Connection, table: Table, rejects: pd.DataFrame) -> None:
    """COPY rejects (``_line, field, reason, raw``) into the load's rejects table."""
    if rejects.empty:
        return
    frame = pd.DataFrame(
        {
            "line_no": pd.to_numeric(rejects["_line"], errors="coerce").to_numpy(),
            "field": rejects["field"].to_numpy(),
            "reason": rejects["reason"].to_numpy(),
            "raw_record": rejects["raw"].to_numpy(),
        }
    )
    copy_frame(conn, "pg_temp", f"load_{table.name}_rejects", REJECT_TYPES, frame)


def stage_chunks(
    conn: psycopg.Connection,
    schema: str,
    table: Table,
    chunks: Iterable[Parsed],
    known: dict[str, set[str]],
    progress: Callable[[int, int | None], None] | None = None,
) -> Staged:
    """Validate each chunk and COPY its valid rows and rejects into the temporary tables; only one
    chunk is in memory at a time."""
    staged = Staged()
    columns = {c.name: c.type for c in table.columns}
    now = datetime.now(UTC)
    for parsed in chunks:
        valid, rejects = validate(table.name, parsed.frame, known, now=now)
        if len(parsed.rejects):
            rejects = pd.concat([parsed.rejects, rejects], ignore_index=True)
        staged.rows += copy_frame(conn, "pg_temp", f"load_{table.name}", columns, valid)
        stage_rejects(conn, table, rejects)
        staged.rejects += len(rejects)
        if len(valid):
            days = valid[table.time_column].dt.tz_convert("UTC").dt.floor("D").unique()
            staged.days.update(np.asarray(days.tz_localize(None), dtype="datetime64[D]").tolist())
        if progress:
            progress(staged.rows + staged.rejects, None)
    return staged


def create_partitions(conn: psycopg.Connection, schema: str, table: Table, days: Iterable) -> int:
    """Create the missing day partitions of ``schema.table`` (see raw.create_day_partitions); returns
    how many were made. Run in its own short transaction, before the load's."""
    days = sorted(days)
    if not days:
        return 0
    with conn.transaction():
        return conn.execute(
            "select raw.create_day_partitions(%s::regclass, %s::date[])",
            (f"{schema}.{table.name}", days),
        ).fetchone()[0]


def ensure_day_partitions(
    conn: psycopg.Connection, table: str, timestamps: Iterable, schema: str = "raw"
) -> int:
    """Create the day partitions that rows at ``timestamps`` (datetimes or ISO text) need, for code
    that writes a partitioned raw table with plain SQL (tests, synthetic benchmarks); the loader does
    this itself. Returns how many were made."""
    with conn.transaction():
        return conn.execute(
            "select raw.create_day_partitions(%s::regclass,"
            " array(select (t at time zone 'UTC')::date from unnest(%s::timestamptz[]) as t))",
            (f"{schema}.{table}", [str(t) if not isinstance(t, datetime) else t for t in timestamps]),
        ).fetchone()[0]


def insert_staged(conn: psycopg.Connection, schema: str, table: Table, load_id: int) -> int:
    """Move the staged rows into the table, skipping those whose unique key exists; returns how many
    were inserted (the rest are duplicates, of loaded rows or of earlier rows of the same file).

    New data is inserted plainly first: ON CONFLICT's speculative insertion costs ~60% more per row
    (measured). The unique key still guards it, so any duplicate (a re-ingest, a repeated row, a
    concurrent load of the same rows) rolls back to the savepoint and the ON CONFLICT form runs."""
    names = sql.SQL(", ").join(map(sql.Identifier, table.names))
    insert = sql.SQL("insert into {} ({}, load_id) select {}, %s from {}").format(
        sql.Identifier(schema, table.name), names, names, stage_names(table)[0]
    )
    try:
        with conn.transaction():
            return conn.execute(insert, (load_id,)).rowcount
    except psycopg.errors.UniqueViolation:
        return conn.execute(insert + sql.SQL(" on conflict do nothing"), (load_id,)).rowcount


def quarantine_staged(
    conn: psycopg.Connection, schema: str, table: Table, kind: str, path: str, load_id: int
) -> int:
    """Put the staged rejects into quarantine, except those this file already put there (a re-ingest:
    they count as duplicates); returns how many were quarantined now."""
    quarantine = sql.Identifier(schema, "quarantine")
    cursor = conn.execute(
        sql.SQL(
            """insert into {q} (load_id, kind, source_file, line_no, field, reason, raw_record)
               select %(load)s, %(kind)s, %(file)s, r.line_no, r.field, r.reason, r.raw_record
               from {rejects} r
               where not exists (
                   select 1 from {q} q
                   where q.kind = %(kind)s and q.source_file = %(file)s
                     and q.line_no is not distinct from r.line_no and q.field is not distinct from r.field
                     and q.reason = r.reason and q.raw_record is not distinct from r.raw_record)"""
        ).format(q=quarantine, rejects=stage_names(table)[1]),
        {"load": load_id, "kind": kind, "file": path},
    )
    return cursor.rowcount


def reference_ids(conn: psycopg.Connection, schema: str, table: str) -> dict[str, set[str]]:
    """The registered ids a table's rows must reference (see ``validation.KNOWN_IDS``)."""
    if table not in KNOWN_IDS:
        return {}
    column, reference = KNOWN_IDS[table]
    query = sql.SQL("select distinct {} from {}").format(
        sql.Identifier(column), sql.Identifier(schema, reference)
    )
    return {reference: {row[0] for row in conn.execute(query)}}
