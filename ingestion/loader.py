"""Loading one landing file into its raw table: read, validate, skip exact duplicates, COPY, with the
counts in ``raw.load_log``, the rows committed in one transaction.

High-volume tables (telemetry) take the bulk path (``ingestion.bulk``): the file is streamed in
chunks into temporary tables, its day partitions are created, and one INSERT ... ON CONFLICT DO
NOTHING dedups on the table's unique key; loads run concurrently. Small tables are compared in
Python by row hash under an advisory lock per table.

Every input row ends in exactly one place: rows_in = loaded + quarantined + duplicates_skipped.
A row with the same key as a loaded row but different values is a new version and is loaded (raw
is append-only; staging keeps the latest load). A rejected row this file already put in quarantine
counts as a duplicate on re-ingest, so re-ingesting a file changes no table but the load log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from core.pii import PiiKey, decrypt_pii, encrypt_pii, load_key
from ingestion import bulk, limits
from ingestion.dedup import duplicate_mask, existing_rows, row_hashes, to_storage
from ingestion.errors import IngestError
from ingestion.formats import READERS, Parsed, read_chunks
from ingestion.formats.prices import MARKET_TIMEZONES
from ingestion.kinds import KINDS, LOAD_ORDER, TABLE_OF, NotIngested, detect_kind
from ingestion.pgcopy import copy_frame
from ingestion.tables import PII_FIELDS, TABLES, Table
from ingestion.validation import validate

Progress = Callable[[int, int], None]  # (rows written so far, rows to write)


@dataclass
class LoadResult:
    """The outcome of one file's load, as recorded in ``raw.load_log``."""

    load_id: int
    kind: str
    source_file: str
    rows_in: int
    loaded: int
    quarantined: int
    duplicates_skipped: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _connection(conn_or_url: psycopg.Connection | str) -> Iterator[psycopg.Connection]:
    if isinstance(conn_or_url, psycopg.Connection):
        yield conn_or_url
        return
    with psycopg.connect(conn_or_url) as conn:
        yield conn


def ingest_file(
    conn_or_url: psycopg.Connection | str,
    kind: str,
    path: str | Path,
    progress: Progress | None = None,
    *,
    schema: str = "raw",
    chunk_rows: int | None = None,
) -> LoadResult:
    """Load one file of ``kind`` (see ``KINDS``); raises IngestError when the file is unusable.
    ``schema`` is for the benchmark, which loads into a scratch copy of the raw tables; ``chunk_rows``
    bounds the rows in memory at once on the bulk path (default ``HCP_INGEST_CHUNK_ROWS``)."""
    if kind not in KINDS:
        raise IngestError(path, f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    path = Path(path)
    table = TABLES[TABLE_OF[kind]]
    started = time.perf_counter()
    with _connection(conn_or_url) as conn:
        try:
            limits.check_file(path)  # symlinks and oversized files are refused before reading
            # hashlib and the readers' C code release the GIL: hash the file while it is parsed
            with ThreadPoolExecutor(max_workers=1) as pool:
                digest = pool.submit(_sha256, path)
                if table.unique_key:
                    staged = _stage(
                        conn, schema, kind, table, path, chunk_rows or limits.chunk_rows(), progress
                    )
                else:
                    parsed = READERS[kind](path)
                sha256 = digest.result()
            if table.unique_key:
                bulk.create_partitions(conn, schema, table, staged.days)
            with conn.transaction():
                conn.execute("set local timezone = 'UTC'")
                if table.unique_key:
                    load_id = _start_load(conn, schema, kind, path, sha256)
                    counts = _insert_staged(conn, schema, kind, table, load_id, path, staged)
                else:
                    # Serialise loads into the same small table, so two loads cannot both miss each
                    # other's rows (the bulk path needs no lock: its unique key does this).
                    conn.execute(
                        "select pg_advisory_xact_lock(hashtext(%s))", (f"hcp-ingest:{schema}.{table.name}",)
                    )
                    load_id = _start_load(conn, schema, kind, path, sha256)
                    counts = _load(conn, schema, kind, table, load_id, path, parsed, progress)
                conn.execute(
                    sql.SQL(
                        "update {} set finished_at = clock_timestamp(), status = 'succeeded', rows_in = %s, loaded = %s,"
                        " quarantined = %s, duplicates_skipped = %s where load_id = %s"
                    ).format(sql.Identifier(schema, "load_log")),
                    (*counts, load_id),
                )
        except (IngestError, psycopg.Error):
            with contextlib.suppress(psycopg.Error):  # the connection itself may be gone
                _record_failure(conn, schema, kind, path)
            raise
    rows_in, loaded, quarantined, duplicates = counts
    return LoadResult(
        load_id, kind, str(path), rows_in, loaded, quarantined, duplicates, time.perf_counter() - started
    )


def _stage(conn, schema: str, kind: str, table: Table, path: Path, chunk_rows: int, progress) -> bulk.Staged:
    """The file streamed into the load's temporary tables (committed: they outlive this transaction
    and vanish with the session; a killed load leaves nothing behind)."""
    with conn.transaction():
        bulk.create_stage(conn, schema, table)
        known = bulk.reference_ids(conn, schema, table.name)
        return bulk.stage_chunks(conn, schema, table, read_chunks(kind, path, chunk_rows), known, progress)


def _insert_staged(conn, schema: str, kind: str, table: Table, load_id: int, path: Path, staged: bulk.Staged):
    loaded = bulk.insert_staged(conn, schema, table, load_id)
    quarantined = bulk.quarantine_staged(conn, schema, table, kind, str(path), load_id)
    bulk.drop_stage(conn, table)
    duplicates = (staged.rows - loaded) + (staged.rejects - quarantined)
    return staged.rows + staged.rejects, loaded, quarantined, duplicates


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _start_load(conn: psycopg.Connection, schema: str, kind: str, path: Path, sha256: str) -> int:
    return conn.execute(
        sql.SQL(
            "insert into {} (kind, source_file, file_sha256) values (%s, %s, %s) returning load_id"
        ).format(sql.Identifier(schema, "load_log")),
        (kind, str(path), sha256),
    ).fetchone()[0]


def _record_failure(conn: psycopg.Connection, schema: str, kind: str, path: Path) -> None:
    """A failed load is logged too (in its own transaction: the data tables stay untouched)."""
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "insert into {} (kind, source_file, finished_at, status) values (%s, %s, now(), 'failed')"
            ).format(sql.Identifier(schema, "load_log")),
            (kind, str(path)),
        )


def _load(
    conn, schema, kind, table: Table, load_id, path, parsed: Parsed, progress
) -> tuple[int, int, int, int]:
    known = bulk.reference_ids(conn, schema, table.name)
    valid, rejects = validate(table.name, parsed.frame, known, now=datetime.now(UTC))
    rejects = pd.concat([parsed.rejects, rejects], ignore_index=True) if len(parsed.rejects) else rejects
    if table.name == "customers" and len(rejects):
        rejects = rejects.assign(raw=rejects["raw"].map(redact_pii))  # no PII in clear in quarantine
    valid = to_storage(valid, table)
    hashes = row_hashes(valid, table)
    existing = _existing(conn, schema, table, valid)
    duplicate = duplicate_mask(
        hashes, row_hashes(existing, table) if len(existing) else np.empty(0, "uint64")
    )
    new = (valid[~duplicate] if duplicate.any() else valid).copy(deep=False)
    if table.name == "energy_prices":
        _register_nodes(conn, schema, valid, load_id)
    columns = {c.name: c.type for c in table.columns}
    if table.name == "customers":
        new, columns = _encrypt(new, columns)
    new["load_id"] = load_id
    loaded = copy_frame(conn, schema, table.name, {**columns, "load_id": "bigint"}, new, progress)
    bulk.create_stage(conn, schema, table, rows_table=False)
    bulk.stage_rejects(conn, table, rejects)
    quarantined = bulk.quarantine_staged(conn, schema, table, kind, str(path), load_id)
    bulk.drop_stage(conn, table)
    duplicates = int(duplicate.sum()) + len(rejects) - quarantined
    return loaded + quarantined + duplicates, loaded, quarantined, duplicates


def _existing(conn, schema: str, table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame.iloc[:0]
    if table.name != "customers":
        return existing_rows(conn, schema, table, frame)
    return _existing_customers(conn, schema, table)


def _existing_customers(conn, schema: str, table: Table) -> pd.DataFrame:
    """Loaded customers with their PII decrypted: ciphertexts differ per load (random nonces), so
    duplicates are found on the plaintext. Rows under another key cannot match and are left out."""
    key = load_key()
    query = sql.SQL(
        "select customer_id, pii_encrypted, timezone, tax_rate::float8, customer_type from {}"
    ).format(sql.Identifier(schema, "customers"))
    records = []
    for customer_id, blob, timezone, tax_rate, customer_type in conn.execute(query):
        try:
            pii = decrypt_pii(blob, customer_id, key)
        except Exception:  # another key or a damaged record: not comparable, so not a duplicate
            continue
        records.append(
            {
                "customer_id": customer_id,
                **pii,
                "timezone": timezone,
                "tax_rate": tax_rate,
                "customer_type": customer_type,
            }
        )
    return pd.DataFrame(records, columns=table.names)


def _encrypt(frame: pd.DataFrame, columns: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    key: PiiKey = load_key()
    blobs = [
        encrypt_pii({f: row[f] for f in PII_FIELDS}, row["customer_id"], key)
        for row in frame.to_dict("records")
    ]
    out = frame.drop(columns=list(PII_FIELDS)).assign(pii_encrypted=blobs, pii_key_id=key.key_id)
    kept = {name: type_ for name, type_ in columns.items() if name not in PII_FIELDS}
    return out, {**kept, "pii_encrypted": "bytea", "pii_key_id": "text"}


def _register_nodes(conn, schema: str, frame: pd.DataFrame, load_id: int) -> None:
    """Every settlement point of the file, registered the first time it is seen."""
    nodes = frame.drop_duplicates(["market", "node_name"])
    rows = [
        (row.node_name, row.market, row.node_type, MARKET_TIMEZONES[row.market], load_id)
        for row in nodes.itertuples()
    ]
    if not rows:
        return
    with conn.cursor() as cursor:
        cursor.executemany(
            sql.SQL(
                "insert into {} (node_name, market, node_type, timezone, load_id) values (%s, %s, %s, %s, %s)"
                " on conflict (market, node_name) do nothing"
            ).format(sql.Identifier(schema, "price_nodes")),
            rows,
        )


REDACTED = "[redacted]"


def redact_pii(raw):
    """A quarantined customer record with its PII fields replaced by ``[redacted]`` (the customer
    id and the other fields stay, so the row can still be found and fixed at the source); a record
    that is not a JSON object is redacted whole."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return raw
    try:
        record = json.loads(raw)
    except (TypeError, ValueError):
        return REDACTED
    if not isinstance(record, dict):
        return REDACTED
    return json.dumps(
        {k: (REDACTED if k in PII_FIELDS and v not in (None, "") else v) for k, v in record.items()}
    )


def landing_files(folder: str | Path) -> list[tuple[str, Path]]:
    """``(kind, path)`` of the ingestible files under ``folder``, in load order: reference data,
    prices, Bitcoin, telemetry, site meter, events; by name within a kind."""
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            found.append((detect_kind(path), path))
        except NotIngested:
            continue
    return sorted(found, key=lambda item: (LOAD_ORDER.index(item[0]), item[1].name, str(item[1])))


def ingest_folder(url: str, folder: str | Path, progress: Progress | None = None) -> list[LoadResult]:
    """Load every landing file under ``folder`` (see :func:`landing_files` for the order); fault
    labels are skipped, a file of unknown kind raises IngestError."""
    with psycopg.connect(url) as conn:
        return [ingest_file(conn, kind, path, progress) for kind, path in landing_files(folder)]
