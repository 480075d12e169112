"""Writing a DataFrame into a table with COPY: binary format where every column type has a numpy
encoder (telemetry, the bulk path), else CSV rendered by pyarrow in C++; both chunk by chunk, so the
server works on chunk k while the client renders chunk k + 1."""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from ingestion import pgbinary

CHUNK_ROWS = 100_000
_WRITE = pacsv.WriteOptions(include_header=False)


def arrow_column(values: pd.Series, type_: str) -> pa.Array:
    """A column as the Arrow array whose CSV text PostgreSQL reads back into ``type_``."""
    kind = type_.split(":")[0]
    if kind == "real":
        return pa.array(values.to_numpy(dtype="float32"), type=pa.float32(), from_pandas=True)
    if kind == "numeric":  # already rounded to the column's scale by dedup.to_storage
        return pa.array(values.astype("float64").to_numpy(), from_pandas=True)
    if kind in ("int", "bigint"):
        return pa.array(values.astype("float64").to_numpy(), from_pandas=True).cast(pa.int64())
    if kind == "timestamptz":
        return pa.array(values.dt.tz_convert("UTC"), from_pandas=True).cast(
            pa.timestamp("us", "UTC"), safe=False
        )
    if kind == "timestamp":
        return pa.array(values, from_pandas=True).cast(pa.timestamp("us"), safe=False)
    if kind == "text[]":
        values = values.map(pg_array, na_action="ignore")
    if kind == "bytea":
        values = values.map(lambda blob: "\\x" + bytes(blob).hex(), na_action="ignore")
    return pa.array(values.astype(object).where(values.notna(), None), type=pa.string())


def pg_array(items: list[str]) -> str:
    """A text[] literal; every element quoted so commas and braces in ids are safe."""
    quoted = ('"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return "{" + ",".join(quoted) + "}"


def copy_frame(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    columns: dict[str, str],
    frame: pd.DataFrame,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """COPY ``frame[columns]`` (name -> storage type) into ``schema.table``; returns the rows written."""
    if frame.empty:
        return 0
    if pgbinary.supported(columns):
        return pgbinary.copy_frame_binary(conn, schema, table, columns, frame, progress)
    arrow = pa.table({name: arrow_column(frame[name], type_) for name, type_ in columns.items()})
    statement = sql.SQL("copy {} ({}) from stdin (format csv)").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    total = arrow.num_rows
    with conn.cursor().copy(statement) as copy:
        for start in range(0, total, CHUNK_ROWS):
            sink = io.BytesIO()
            pacsv.write_csv(arrow.slice(start, CHUNK_ROWS), sink, _WRITE)
            copy.write(sink.getvalue())
            if progress:
                progress(min(start + CHUNK_ROWS, total), total)
    return total
