"""Normalized device telemetry: CSV or Parquet with ``device_id,ts,power_kw,hashrate_ths,gpu_util_pct,temperature_c``.

This is the bulk path, so a clean CSV is read by pyarrow's multithreaded reader straight into typed
columns, block by block (bounded memory); only a block with unreadable values or malformed rows
falls back to the row-exact reader that can name each bad line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ingestion.errors import IngestError
from ingestion.formats.base import (
    Parsed,
    csv_blocks,
    csv_rows,
    decode_block,
    first_line,
    header_key,
    map_header,
    read_text,
)
from ingestion.limits import check_parquet

METRICS = ["power_kw", "hashrate_ths", "gpu_util_pct", "temperature_c"]
COLUMNS = {"device_id": (), "ts": (), **{m: () for m in METRICS}}
# Device ids repeat on every row: a dictionary column (pandas Categorical) makes the id checks,
# hashing and encoding work on the few distinct ids.
_TYPES = {
    "device_id": pa.dictionary(pa.int32(), pa.string()),
    "ts": pa.timestamp("us", "UTC"),
    **{m: pa.float64() for m in METRICS},
}


def read_telemetry(path: str | Path) -> Parsed:
    """Telemetry rows; Parquet by suffix, CSV otherwise (the whole file as one chunk)."""
    return next(iter_telemetry(path, 1 << 62), None) or Parsed(pd.DataFrame(columns=[*COLUMNS, "_line"]))


def iter_telemetry(path: str | Path, chunk_rows: int) -> Iterator[Parsed]:
    """Telemetry rows in chunks of at most ``chunk_rows`` rows, a file of any size in bounded memory.
    Each CSV block is read typed by pyarrow; a block with a malformed row or an unreadable value is
    read again by the row-exact reader, which names each bad line."""
    if Path(path).suffix.lower() == ".parquet":
        yield from _iter_parquet(path, chunk_rows)
        return
    header = first_line(path)
    if not header:
        read_text(path)  # raises the precise error: empty file or wrong encoding
    names = [name.strip().strip('"') for name in header.split(",")]
    positions = map_header(path, names, COLUMNS, optional=set(METRICS))
    for line, offset, block in csv_blocks(path, chunk_rows):
        fast = _read_fast(block, names, positions, line)
        if fast is None:
            text = decode_block(path, block, line, offset)  # a wrong encoding is an IngestError
            fast = csv_rows(text, names, positions, COLUMNS, first_line_no=line)
            for metric in METRICS:
                fast.frame[metric] = fast.frame[metric].replace("", None)
        yield fast


def _read_fast(
    block: bytes, names: list[str], positions: dict[str, int], first_line_no: int
) -> Parsed | None:
    """Typed read of a clean block; None when any row is malformed or any value unreadable."""
    invalid = []

    def on_invalid(row):
        invalid.append(row)
        return "skip"

    by_position = {names[i]: canonical for canonical, i in positions.items()}
    try:
        table = pacsv.read_csv(
            pa.py_buffer(block),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: _TYPES[c] for name, c in by_position.items()},
                include_columns=list(by_position),
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if invalid:
        return None
    frame = table.rename_columns([by_position[name] for name in table.column_names]).to_pandas(
        split_blocks=True,
        self_destruct=True,  # no block consolidation: saves a copy of every column
    )
    for metric in METRICS:
        if metric not in frame:
            frame[metric] = float("nan")
    if list(frame.columns) != list(COLUMNS):
        frame = frame[list(COLUMNS)]
    frame["_line"] = range(first_line_no, first_line_no + len(frame))
    return Parsed(frame)


def _iter_parquet(path, chunk_rows: int) -> Iterator[Parsed]:
    check_parquet(Path(path))  # a zip bomb is refused from its footer, before any page is read
    try:
        source = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a file that is not Parquet
        raise IngestError(path, f"not a readable Parquet file: {err}") from None
    positions = map_header(path, source.schema_arrow.names, COLUMNS, optional=set(METRICS))
    first = 1  # Parquet has no lines: the row number
    for batch in source.iter_batches(batch_size=min(chunk_rows, 1 << 30)):
        frame = pd.DataFrame({c: batch.column(i).to_pandas() for c, i in positions.items()})
        for metric in METRICS:
            if metric not in frame:
                frame[metric] = float("nan")
        frame = frame[list(COLUMNS)].reset_index(drop=True)
        frame["_line"] = range(first, first + len(frame))
        first += len(frame)
        yield Parsed(frame)


def telemetry_header_matches(header: str) -> bool:
    """Whether a CSV header line is the normalized telemetry header."""
    keys = {header_key(name) for name in header.split(",")}
    return {"deviceid", "ts"} <= keys and bool(keys & {header_key(m) for m in METRICS})
