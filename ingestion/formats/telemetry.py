"""Normalized device telemetry: CSV or Parquet with ``device_id,ts,power_kw,hashrate_ths,gpu_util_pct,temperature_c``.

This is the bulk path, so a clean CSV is read by pyarrow's multithreaded reader straight into typed
columns; only a file with unreadable values or malformed rows falls back to the row-exact reader
that can name each bad line.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ingestion.errors import IngestError
from ingestion.formats.base import Parsed, first_line, header_key, map_header, read_csv_rows, read_text
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
    """Telemetry rows; Parquet by suffix, CSV otherwise."""
    if Path(path).suffix.lower() == ".parquet":
        return _read_parquet(path)
    header = first_line(path)
    if not header:
        read_text(path)  # raises the precise error: empty file or wrong encoding
    names = [name.strip().strip('"') for name in header.split(",")]
    positions = map_header(path, names, COLUMNS, optional=set(METRICS))
    fast = _read_fast(path, names, positions)
    if fast is not None:
        return fast
    read_text(path)  # a wrong encoding is an IngestError, not a column of bad rows
    parsed = read_csv_rows(path, COLUMNS, optional=set(METRICS))
    for metric in METRICS:
        parsed.frame[metric] = parsed.frame[metric].replace("", None)
    return parsed


def _read_fast(path, names: list[str], positions: dict[str, int]) -> Parsed | None:
    """Typed read of a clean file; None when any row is malformed or any value unreadable."""
    invalid = []

    def on_invalid(row):
        invalid.append(row)
        return "skip"

    by_position = {names[i]: canonical for canonical, i in positions.items()}
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
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
    frame["_line"] = range(2, len(frame) + 2)
    return Parsed(frame)


def _read_parquet(path) -> Parsed:
    check_parquet(Path(path))  # a zip bomb is refused from its footer, before any page is read
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a file that is not Parquet
        raise IngestError(path, f"not a readable Parquet file: {err}") from None
    positions = map_header(path, list(frame.columns), COLUMNS, optional=set(METRICS))
    frame = pd.DataFrame({c: frame.iloc[:, i] for c, i in positions.items()})
    for metric in METRICS:
        if metric not in frame:
            frame[metric] = float("nan")
    frame = frame[list(COLUMNS)].reset_index(drop=True)
    frame["_line"] = range(1, len(frame) + 1)  # Parquet has no lines: the row number
    return Parsed(frame)


def telemetry_header_matches(header: str) -> bool:
    """Whether a CSV header line is the normalized telemetry header."""
    keys = {header_key(name) for name in header.split(",")}
    return {"deviceid", "ts"} <= keys and bool(keys & {header_key(m) for m in METRICS})
