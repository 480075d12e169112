"""Limits on landing input, configurable by environment: file size, the sane time window, and how
much of a file's content an error message may echo (files can be links to secrets, logs are kept).

- ``HCP_INGEST_MAX_FILE_MB`` (default 2048): larger files are refused before they are read.
- ``HCP_INGEST_MAX_PARQUET_MB`` (default 8192): a Parquet file whose data would decompress to more
  than this (the uncompressed sizes in its footer) is refused before its pages are read: a small,
  highly compressed file must not exhaust memory.
- ``HCP_INGEST_CHUNK_ROWS`` (default 50000): rows of a bulk file held in memory at once.
- ``HCP_INGEST_EARLIEST`` (default 2000-01-01) and ``HCP_INGEST_MAX_DAYS_AHEAD`` (default 2): rows
  stamped outside that window are quarantined with the reason.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingestion.errors import IngestError

PREVIEW_CHARS = 24


def max_file_bytes() -> int:
    """The largest landing file accepted, in bytes."""
    return int(float(os.environ.get("HCP_INGEST_MAX_FILE_MB", "2048")) * 1024 * 1024)


def max_parquet_uncompressed_bytes() -> int:
    """The largest uncompressed size of a Parquet file's data accepted, in bytes."""
    return int(float(os.environ.get("HCP_INGEST_MAX_PARQUET_MB", "8192")) * 1024 * 1024)


def check_parquet(path: Path) -> None:
    """Refuse a Parquet file whose column chunks add up to more than the uncompressed limit, from
    the footer alone (no data page is read)."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
    except Exception:  # pyarrow raises several types for a file that is not Parquet
        raise IngestError(path, "not a readable Parquet file (no valid footer)") from None
    size = sum(
        metadata.row_group(g).column(c).total_uncompressed_size
        for g in range(metadata.num_row_groups)
        for c in range(metadata.num_columns)
    )
    limit = max_parquet_uncompressed_bytes()
    if size > limit:
        raise IngestError(
            path,
            f"Parquet data of {size:,} bytes uncompressed is over the limit of {limit:,} bytes "
            "(HCP_INGEST_MAX_PARQUET_MB)",
        )


def chunk_rows() -> int:
    """Rows of a streamed landing file parsed and validated at a time (bounds the loader's memory)."""
    return max(1, int(os.environ.get("HCP_INGEST_CHUNK_ROWS", "50000")))


def time_window(now: datetime | None = None) -> tuple[float, float]:
    """Earliest and latest acceptable timestamps (the latest counted from ``now``, default the
    clock), as Unix seconds."""
    earliest = datetime.fromisoformat(os.environ.get("HCP_INGEST_EARLIEST", "2000-01-01")).replace(tzinfo=UTC)
    ahead = float(os.environ.get("HCP_INGEST_MAX_DAYS_AHEAD", "2"))
    return earliest.timestamp(), ((now or datetime.now(UTC)) + timedelta(days=ahead)).timestamp()


def preview(text: str) -> str:
    """At most a few characters of file content, for an error message."""
    text = text.replace("\n", " ")
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def check_file(path: Path) -> None:
    """Refuse symbolic links (a link to the key file must not be read) and files over the size limit."""
    if path.is_symlink():
        raise IngestError(path, "is a symbolic link: landing files must be regular files (links are refused)")
    if not path.is_file():
        raise IngestError(path, "no such file")
    size, limit = path.stat().st_size, max_file_bytes()
    if size > limit:
        raise IngestError(
            path, f"{size:,} bytes is over the limit of {limit:,} bytes (HCP_INGEST_MAX_FILE_MB)"
        )
