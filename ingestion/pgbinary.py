"""COPY in PostgreSQL's binary format, built with numpy: the server skips parsing text numbers and
timestamps, which is most of the cost of a CSV COPY.

Binary tuples have no fixed width (text lengths vary, a NULL has no payload), so rows are grouped by
layout (NULL pattern and text byte lengths); each group is one numpy structured array whose bytes are
exactly the tuples, and the groups' bytes are scattered back into row order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

SUPPORTED = {"text", "real", "timestamptz", "bigint"}
HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
_FIXED = {"real": (">f4", 4), "timestamptz": (">i8", 8), "bigint": (">i8", 8)}


def supported(columns: dict[str, str]) -> bool:
    """Whether every column type has a binary encoder here."""
    return all(type_ in SUPPORTED for type_ in columns.values())


def _prepare(frame: pd.DataFrame, columns: dict[str, str]) -> tuple[dict, dict, dict]:
    """Per column: values ready for the wire, NULL mask, and byte lengths (text)."""
    values, nulls, lengths = {}, {}, {}
    for name, type_ in columns.items():
        series = frame[name]
        if type_ == "text":
            codes, uniques = pd.factorize(series, use_na_sentinel=True)  # ids repeat: encode each once
            encoded = [str(u).encode() for u in uniques]
            table = np.array(encoded or [b""], dtype=object)
            sizes = np.array([len(b) for b in encoded] or [0], dtype=np.int64)
            nulls[name] = codes < 0
            safe = np.where(codes < 0, 0, codes)
            values[name], lengths[name] = table[safe], np.where(codes < 0, 0, sizes[safe])
        elif type_ == "timestamptz":
            utc = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
            nulls[name] = np.isnat(utc)
            values[name] = utc.view("int64") - _PG_EPOCH_US
        elif type_ == "bigint":
            numbers = pd.to_numeric(series)
            nulls[name] = numbers.isna().to_numpy()
            values[name] = numbers.fillna(0).to_numpy(dtype="int64")
        else:
            numbers = series.to_numpy(dtype="float32")
            nulls[name] = np.isnan(numbers)
            values[name] = numbers
    return values, nulls, lengths


def encode(frame: pd.DataFrame, columns: dict[str, str]) -> bytes:
    """The binary COPY tuples of ``frame`` (no header or trailer)."""
    if frame.empty:
        return b""
    values, nulls, lengths = _prepare(frame, columns)
    keys = pd.DataFrame({f"n{i}": nulls[name] for i, name in enumerate(columns)})
    for name in lengths:
        keys[f"l{name}"] = lengths[name]
    groups = []
    for key, rows in keys.groupby(list(keys.columns), sort=False).indices.items():
        layout = dict(zip(keys.columns, key if isinstance(key, tuple) else (key,), strict=True))
        groups.append((rows, _encode_group(rows, columns, values, layout)))
    if len(groups) == 1:
        return groups[0][1].tobytes()
    return _interleave(len(frame), groups)


def _interleave(count: int, groups: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """The groups' tuples back in the frame's row order: the table's index is on time, and rows
    arriving in time order keep its inserts local (measured ~25% faster than grouped order)."""
    sizes = np.empty(count, dtype=np.int64)
    for rows, tuples in groups:
        sizes[rows] = tuples.dtype.itemsize
    # rows padded to the widest layout, then the padding dropped by one boolean compaction
    padded = np.zeros((count, int(sizes.max())), dtype=np.uint8)
    for rows, tuples in groups:
        width = tuples.dtype.itemsize
        padded[rows, :width] = tuples.view(np.uint8).reshape(len(rows), width)
    return padded[np.arange(padded.shape[1]) < sizes[:, None]].tobytes()


def _encode_group(rows: np.ndarray, columns: dict[str, str], values: dict, layout: dict) -> np.ndarray:
    dtype = [("count", ">i2")]
    for i, (name, type_) in enumerate(columns.items()):
        dtype.append((f"len{i}", ">i4"))
        if layout[f"n{i}"]:
            continue
        if type_ == "text":
            if int(layout[f"l{name}"]):  # empty text: a zero length and no payload
                dtype.append((f"v{i}", f"S{int(layout[f'l{name}'])}"))
        else:
            dtype.append((f"v{i}", _FIXED[type_][0]))
    out = np.empty(len(rows), dtype=np.dtype(dtype))
    out["count"] = len(columns)
    for i, (name, type_) in enumerate(columns.items()):
        if layout[f"n{i}"]:
            out[f"len{i}"] = -1
        elif type_ == "text":
            size = int(layout[f"l{name}"])
            out[f"len{i}"] = size
            if size:
                out[f"v{i}"] = values[name][rows].astype(f"S{size}")
        else:
            out[f"len{i}"] = _FIXED[type_][1]
            out[f"v{i}"] = values[name][rows]
    return out


def copy_frame_binary(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    columns: dict[str, str],
    frame: pd.DataFrame,
    progress: Callable[[int, int], None] | None = None,
    chunk_rows: int = 50_000,
) -> int:
    """COPY ``frame[columns]`` into ``schema.table`` in binary format, chunk by chunk so the server
    works on one chunk while the next is encoded."""
    statement = sql.SQL("copy {} ({}) from stdin (format binary)").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    total = len(frame)
    cursor = conn.cursor()
    # A writer thread sends chunk k while this thread encodes chunk k + 1.
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(HEADER)
        for start in range(0, total, chunk_rows):
            copy.write(encode(frame.iloc[start : start + chunk_rows], columns))
            if progress:
                progress(min(start + chunk_rows, total), total)
        copy.write(TRAILER)
    return total
