"""``hcp bench ingest``: telemetry rows per second through the project's loader, side by side with
PostgreSQL's own COPY of the same file (the ceiling) and pandas ``DataFrame.to_sql`` (the naive path).

Everything runs in a scratch schema that is dropped at the end, so the raw tables are untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from ingestion.loader import ingest_file

DEVICES = 2_000
TO_SQL_ROWS = 200_000
_TABLES = ("load_log", "quarantine", "devices", "device_telemetry")


def write_telemetry_csv(path: Path, rows: int, devices: int = DEVICES, seed: int = 7) -> list[str]:
    """A normalized telemetry CSV of ``rows`` rows (one reading per device and minute, ending a day
    ago); returns the device ids it uses."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"bench-{i:05d}" for i in range(devices)])
    minutes = -(-rows // devices)
    start = (datetime.now(UTC) - timedelta(days=1, minutes=minutes)).replace(second=0, microsecond=0)
    step = np.arange(rows)
    ts = np.datetime64(start.replace(tzinfo=None), "s") + (step // devices).astype("timedelta64[m]")
    gpu = step % 2 == 1
    frame = pd.DataFrame(
        {
            "device_id": ids[step % devices],
            "ts": np.datetime_as_string(ts, unit="s").astype(object) + "Z",
            "power_kw": np.round(rng.uniform(0.3, 3.6, rows), 3),
            "hashrate_ths": np.where(gpu, np.nan, np.round(rng.uniform(90, 200, rows), 2)),
            "gpu_util_pct": np.where(gpu, np.round(rng.uniform(0, 100, rows), 1), np.nan),
            "temperature_c": np.round(rng.uniform(35, 85, rows), 1),
        }
    )
    frame.to_csv(path, index=False)
    return list(ids)


def _scratch_schema(conn: psycopg.Connection, schema: str, device_ids: list[str]) -> None:
    conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
    for table in _TABLES:
        conn.execute(
            sql.SQL("create table {} (like {} including all)").format(
                sql.Identifier(schema, table), sql.Identifier("raw", table)
            )
        )
    with conn.cursor().copy(
        sql.SQL("copy {} (device_id, facility_id, kind, model, nominal_power_kw, load_id) from stdin").format(
            sql.Identifier(schema, "devices")
        )
    ) as copy:
        for device_id in device_ids:
            copy.write_row((device_id, "bench", "asic", "bench", 3.0, 0))


def _checkpoint(conn: psycopg.Connection) -> None:
    """Flush dirty pages so one timed load does not pay for the previous one's writes (needs the
    superuser or pg_checkpoint role; skipped without it)."""
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("checkpoint")


def _copy_ceiling(conn: psycopg.Connection, schema: str, path: Path) -> float:
    """Seconds for PostgreSQL to COPY the file's bytes into a fresh table like raw.device_telemetry."""
    table = sql.Identifier(schema, "copy_ceiling")
    conn.execute(sql.SQL("create table {} (like raw.device_telemetry including all)").format(table))
    conn.execute(sql.SQL("alter table {} alter column load_id set default 0").format(table))
    _checkpoint(conn)
    started = time.perf_counter()
    with (
        conn.transaction(),
        conn.cursor().copy(
            sql.SQL(
                "copy {} (device_id, ts, power_kw, hashrate_ths, gpu_util_pct, temperature_c)"
                " from stdin (format csv, header true)"
            ).format(table)
        ) as copy,
        path.open("rb") as handle,
    ):
        for block in iter(lambda: handle.read(1 << 20), b""):
            copy.write(block)
    return time.perf_counter() - started


def _to_sql(url: str, schema: str, path: Path, rows: int) -> float:
    """Seconds for pandas ``to_sql`` to append ``rows`` rows of the file to a fresh table."""
    from sqlalchemy import create_engine

    from orchestration.instance import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(url).replace("postgresql+psycopg2://", "postgresql+psycopg://", 1))
    sample = pd.read_csv(path, nrows=rows, parse_dates=["ts"])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create table {} (like raw.device_telemetry including all)").format(
                sql.Identifier(schema, "to_sql")
            )
        )
        conn.execute(
            sql.SQL("alter table {} alter column load_id set default 0").format(
                sql.Identifier(schema, "to_sql")
            )
        )
    try:
        started = time.perf_counter()
        sample.to_sql("to_sql", engine, schema=schema, if_exists="append", index=False)
        return time.perf_counter() - started
    finally:
        engine.dispose()


def run_benchmark(url: str, rows: int = 2_000_000, progress: Callable[[str], None] | None = None) -> dict:
    """Rows per second of the project's telemetry load, of raw COPY and of pandas ``to_sql``, and the ratios."""
    say = progress or (lambda message: None)
    schema = f"hcp_bench_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(url, autocommit=True) as conn:
        path = Path(tmp) / "telemetry.csv"
        say(f"writing {rows:,} telemetry rows")
        device_ids = write_telemetry_csv(path, rows)
        file_mb = round(path.stat().st_size / 1e6, 1)
        try:
            _scratch_schema(conn, schema, device_ids)
            say("project loader: parse + validate + COPY")
            _checkpoint(conn)
            result = ingest_file(url, "telemetry", path, schema=schema)
            if result.loaded != rows:
                raise RuntimeError(f"benchmark load kept {result.loaded} of {rows} rows: {result.to_dict()}")
            say("PostgreSQL COPY of the same file")
            copy_seconds = _copy_ceiling(conn, schema, path)
            sample = min(rows, TO_SQL_ROWS)
            say(f"pandas to_sql of {sample:,} rows")
            to_sql_seconds = _to_sql(url, schema, path, sample)
        finally:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
    project_rate = rows / result.seconds
    copy_rate = rows / copy_seconds
    to_sql_rate = sample / to_sql_seconds
    return {
        "rows": rows,
        "file_mb": file_mb,
        "project_seconds": round(result.seconds, 3),
        "copy_seconds": round(copy_seconds, 3),
        "to_sql_rows": sample,
        "to_sql_seconds": round(to_sql_seconds, 3),
        "project_rows_per_s": round(project_rate),
        "copy_rows_per_s": round(copy_rate),
        "to_sql_rows_per_s": round(to_sql_rate),
        "project_vs_copy": round(project_rate / copy_rate, 3),
        "project_vs_to_sql": round(project_rate / to_sql_rate, 1),
    }


def format_table(result: dict) -> str:
    """The benchmark result as a small text table."""
    lines = [
        f"telemetry ingest benchmark, {result['rows']:,} rows",
        f"{'path':<34}{'rows/s':>14}{'seconds':>10}",
        f"{'project (parse+validate+COPY)':<34}{result['project_rows_per_s']:>14,}{result['project_seconds']:>10.2f}",
        f"{'PostgreSQL COPY (ceiling)':<34}{result['copy_rows_per_s']:>14,}{result['copy_seconds']:>10.2f}",
        f"{'pandas to_sql (' + format(result['to_sql_rows'], ',') + ' rows)':<34}"
        f"{result['to_sql_rows_per_s']:>14,}{result['to_sql_seconds']:>10.2f}",
        f"project / COPY   = {result['project_vs_copy']:.2f}  (goal >= 0.70)",
        f"project / to_sql = {result['project_vs_to_sql']:.1f}x (goal >= 10x)",
    ]
    return "\n".join(lines)
