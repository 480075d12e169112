"""What every reader returns, and the CSV/text helpers the readers share."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

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
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    positions = map_header(path, header, columns, optional)
    rows, lines, rejects = [], [], []
    for record in reader:
        line = reader.line_num
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
