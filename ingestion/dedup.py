"""Exact-duplicate detection: rows are compared in their stored form (what PostgreSQL keeps after
rounding to the column's type) by a 64-bit hash per row, against the file itself and against rows
already loaded in the file's time range."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from ingestion.tables import Table

_SEPARATOR = "\x1f"  # joins text[] elements for comparison
_NULL_TEXT = "\x00"


def to_storage(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Values as PostgreSQL will store them: real as float32, numeric rounded to its scale,
    timestamps to microseconds. The same values are hashed and written, so they compare exactly."""
    out = frame.copy(deep=False)
    for column in table.columns:
        kind, _, scale = column.type.partition(":")
        values = out[column.name]
        if kind == "real":
            out[column.name] = values.astype("float32")
        elif kind == "numeric":
            out[column.name] = values.round(int(scale))
        elif kind in ("timestamptz", "timestamp") and values.dt.unit == "ns":
            out[column.name] = values.dt.round("us")
    return out


def row_hashes(frame: pd.DataFrame, table: Table) -> np.ndarray:
    """One uint64 per row over the table's columns, equal for rows that store identically."""
    parts = {}
    for column in table.columns:
        kind = column.type.split(":")[0]
        values = frame[column.name]
        if kind in ("text", "text[]"):
            if kind == "text[]":
                values = values.map(
                    lambda ids: None if ids is None else _SEPARATOR.join(ids), na_action="ignore"
                )
            if isinstance(values.dtype, pd.CategoricalDtype):
                # hashed per category; equal to hashing the same strings as objects
                values = values.cat.add_categories([_NULL_TEXT]) if values.isna().any() else values
                parts[column.name] = values.fillna(_NULL_TEXT) if values.isna().any() else values
            else:
                parts[column.name] = values.astype(object).where(values.notna(), _NULL_TEXT)
        elif kind in ("timestamptz", "timestamp"):
            if isinstance(values.dtype, pd.DatetimeTZDtype):
                values = values.dt.tz_convert(None)
            parts[column.name] = values.to_numpy(dtype="datetime64[us]").view("int64")
        else:
            numbers = values.astype("float64").to_numpy(copy=True)
            numbers[np.isnan(numbers)] = np.nan  # one NaN bit pattern: float32 NaNs widen differently
            parts[column.name] = numbers
    return pd.util.hash_pandas_object(pd.DataFrame(parts), index=False).to_numpy()


def existing_rows(conn: psycopg.Connection, schema: str, table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows already in the table that could equal rows of ``frame`` (same time range; whole table for
    reference tables), in the comparable form ``row_hashes`` reads."""
    selects = [_select(column.name, column.type) for column in table.columns]
    query = sql.SQL("select {} from {}").format(
        sql.SQL(", ").join(selects), sql.Identifier(schema, table.name)
    )
    if table.time_column:
        times = frame[table.time_column]
        if times.isna().all():
            return _empty(table)
        query += sql.SQL(" where {} between {} and {}").format(
            sql.Identifier(table.time_column),
            sql.Literal(times.min().to_pydatetime()),
            sql.Literal(times.max().to_pydatetime()),
        )
    return read_copy(conn, query, table)


def read_copy(conn: psycopg.Connection, query: sql.Composable, table: Table) -> pd.DataFrame:
    """The result of ``query`` through COPY TO STDOUT (fast for millions of rows), typed for hashing."""
    buffer = io.BytesIO()
    with conn.cursor().copy(sql.SQL("copy ({}) to stdout (format csv, null '\\N')").format(query)) as copy:
        for chunk in copy:
            buffer.write(chunk)
    if buffer.tell() == 0:
        return _empty(table)
    buffer.seek(0)
    dtypes = {
        c.name: (object if c.type.split(":")[0] in ("text", "text[]") else "float64") for c in table.columns
    }
    for c in table.columns:
        if c.type in ("timestamptz", "timestamp"):
            dtypes[c.name] = "Int64"
    frame = pd.read_csv(
        buffer,
        header=None,
        names=table.names,
        dtype=dtypes,
        keep_default_na=False,
        na_values=["\\N"],
        float_precision="round_trip",  # the default fast parser can be 1 ulp off: no exact match
    )
    for c in table.columns:
        if c.type in ("timestamptz", "timestamp"):
            frame[c.name] = pd.to_datetime(frame[c.name], unit="us")
        elif c.type == "text[]":
            frame[c.name] = frame[c.name].map(lambda joined: joined.split(_SEPARATOR), na_action="ignore")
    return frame


def _select(name: str, type_: str) -> sql.Composable:
    column = sql.Identifier(name)
    kind = type_.split(":")[0]
    if kind in ("timestamptz", "timestamp"):
        return sql.SQL("(extract(epoch from {}) * 1000000)::bigint").format(column)
    if kind in ("real", "numeric", "int"):
        return sql.SQL("{}::float8").format(column)
    if kind == "text[]":
        return sql.SQL("array_to_string({}, chr(31))").format(column)
    return column


def _empty(table: Table) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in table.names})


def duplicate_mask(hashes: np.ndarray, existing: np.ndarray) -> np.ndarray:
    """Rows repeated earlier in the file or already loaded."""
    repeated = pd.Series(hashes).duplicated().to_numpy()
    if len(existing):
        repeated |= np.isin(hashes, existing)
    return repeated
