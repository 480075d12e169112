"""What every reader returns, and the CSV/text helpers the readers share."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ingestion.errors import IngestError
from ingestion.limits import preview

REJECT_COLUMNS = ["_line", "field", "reason", "raw"]


@dataclass
class Parsed:
    """Rows read from one file: ``frame`` holds table columns plus ``_line`` (1-based source line);
    ``rejects`` holds rows that could not even be read (``_line, field, reason, raw``)."""

    frame: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))


def rejects_frame(rows: list[tuple]) -> pd.DataFrame:
    """A rejects frame from ``(line, field, reason, raw)`` tuples."""
    return pd.DataFrame(rows, columns=REJECT_COLUMNS)


def header_key(name: str) -> str:
    """Header names match case-, space- and underscore-insensitively ("Delivery Date" == "DeliveryDate")."""
    return re.sub(r"[\s_]+", "", name).lower()


def read_text(path: str | Path) -> str:
    """The file as text: UTF-8 (a BOM is dropped); empty or undecodable files raise IngestError."""
    data = Path(path).read_bytes()
    if not data.strip():
        raise IngestError(path, "empty file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise IngestError(
            path, f"not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start})", line=line
        ) from None


def map_header(
    path, header: list[str], columns: dict[str, tuple[str, ...]], optional: set[str]
) -> dict[str, int]:
    """Position of each canonical column in ``header``; a missing required column raises IngestError."""
    keys = {header_key(name): i for i, name in enumerate(header)}
    found: dict[str, int] = {}
    for canonical, aliases in columns.items():
        for alias in (canonical, *aliases):
            if header_key(alias) in keys:
                found[canonical] = keys[header_key(alias)]
                break
        else:
            if canonical not in optional:
                raise IngestError(
                    path,
                    f"missing column {canonical!r} (header starts {preview(', '.join(header))!r})",
                    line=1,
                )
    return found


def read_csv_rows(
    path: str | Path, columns: dict[str, tuple[str, ...]], optional: set[str] = frozenset()
) -> Parsed:
    """A CSV with a header as strings under canonical column names; rows with the wrong number of
    fields are rejected with their line; blank lines are skipped. Missing optional columns are ''."""
    text = read_text(path)
    header_end = text.find("\n") + 1 if "\n" in text else len(text)
    header = next(csv.reader([text[:header_end]]))
    positions = map_header(path, header, columns, optional)
    return csv_rows(text[header_end:], header, positions, columns, first_line_no=2)


def csv_rows(
    text: str,
    header: list[str],
    positions: dict[str, int],
    columns: dict[str, tuple[str, ...]],
    first_line_no: int,
) -> Parsed:
    """CSV records (no header) as strings under canonical column names, ``_line`` counted from
    ``first_line_no``; a row with the wrong number of fields is rejected, blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines, rejects = [], [], []
    for record in reader:
        line = first_line_no - 1 + reader.line_num
        if not record or all(not value.strip() for value in record):
            continue
        if len(record) != len(header):
            rejects.append(
                (line, None, f"expected {len(header)} fields, found {len(record)}", ",".join(record))
            )
            continue
        rows.append([record[positions[c]].strip() if c in positions else "" for c in columns])
        lines.append(line)
    frame = pd.DataFrame(rows, columns=list(columns), dtype=object)
    frame["_line"] = lines
    return Parsed(frame, rejects_frame(rejects))


def csv_blocks(path: str | Path, rows: int, read_bytes: int = 1 << 24) -> Iterator[tuple[int, int, bytes]]:
    """The records after a CSV's header line in blocks of at most ``rows`` records:
    ``(number of the block's first line, byte offset, bytes)``. Blocks end at a newline outside
    quotes, so a quoted field with a line break is never cut; at most one block is held at a time."""
    with open(path, "rb") as handle:
        header = handle.readline()
        line, offset, pending = 2, len(header), b""
        while True:
            data = handle.read(read_bytes)
            buffer = pending + data
            if not data:
                if buffer:
                    yield line, offset, buffer
                return
            bytes_ = np.frombuffer(buffer, dtype=np.uint8)
            newlines = np.flatnonzero(bytes_ == 10)
            if b'"' in buffer:  # record ends: newlines with an even number of quotes before them
                quotes = np.flatnonzero(bytes_ == 34)
                newlines = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
            ends = newlines + 1
            start = 0
            for k in range(rows - 1, len(ends), rows):
                block = buffer[start : ends[k]]
                yield line, offset, block
                line, offset, start = line + block.count(b"\n"), offset + len(block), int(ends[k])
            pending = buffer[start:]


def decode_block(path: str | Path, block: bytes, line: int, offset: int) -> str:
    """A block of a file as UTF-8 text; IngestError naming the line and byte offset otherwise."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as err:
        raise IngestError(
            path,
            f"not UTF-8 text (byte {block[err.start]:#04x} at offset {offset + err.start})",
            line=line + block[: err.start].count(b"\n"),
        ) from None


def first_line(path: str | Path) -> str:
    """The first line of a file (for routing by header), '' when unreadable."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            return handle.readline().strip()
    except OSError:
        return ""


def raw_records(frame: pd.DataFrame) -> list[str]:
    """Rows as JSON text, for ``raw.quarantine.raw_record``."""
    records = frame.drop(columns=["_line"], errors="ignore").to_dict("records")
    return [json.dumps(record, default=str) for record in records]


def reject_rows(
    frame: pd.DataFrame, checks: list[tuple[pd.Series, str, str]]
) -> tuple[pd.Series, pd.DataFrame]:
    """Apply ``(mask, field, reason)`` checks in order: ``(rows that passed all, rejects)``; a row is
    rejected once, for the first check it fails."""
    bad = pd.Series(False, index=frame.index)
    parts = []
    for mask, name, reason in checks:
        new = mask.reindex(frame.index, fill_value=False).astype(bool) & ~bad
        if new.any():
            hit = frame[new]
            parts.append(
                pd.DataFrame(
                    {"_line": hit["_line"], "field": name, "reason": reason, "raw": raw_records(hit)}
                )
            )
        bad |= new
    rejects = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REJECT_COLUMNS)
    return ~bad, rejects
