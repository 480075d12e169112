"""``hcp bench ingest``: telemetry rows per second through the project's loader, side by side with
PostgreSQL's own COPY of the same file (the ceiling) and pandas ``DataFrame.to_sql`` (the naive path);
the loader's peak RSS (it runs in a process of its own, streaming the file in chunks); and a time
index on the day's rows as a btree leading with ts vs a BRIN on ts (load seconds, size, queries).

The COPY ceiling writes into a table like raw.device_telemetry: the same unique key and row hash.

Everything runs in a scratch schema that is dropped at the end, so the raw tables are untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from core.roles import OWNER_ROLE
from ingestion import limits

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
    # owned like raw: the loader makes day partitions through raw.create_day_partitions, which runs
    # as the owner role and attaches them to the owner's table
    conn.execute(
        sql.SQL("create schema {} authorization {}").format(
            sql.Identifier(schema), sql.Identifier(OWNER_ROLE)
        )
    )
    for table in _TABLES:
        conn.execute(
            sql.SQL("create table {} (like {} including all)").format(
                sql.Identifier(schema, table), sql.Identifier("raw", table)
            )
            + (sql.SQL(" partition by range (ts)") if table == "device_telemetry" else sql.SQL(""))
        )
        conn.execute(
            sql.SQL("alter table {} owner to {}").format(
                sql.Identifier(schema, table), sql.Identifier(OWNER_ROLE)
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


_LOADER = """
import json, resource, sys
from ingestion.loader import ingest_file
result = ingest_file(sys.argv[1], "telemetry", sys.argv[2], schema=sys.argv[3])
# VmHWM is this process's own peak: ru_maxrss keeps the forking parent's across exec (Linux)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
peak_kb = int(status["VmHWM"].split()[0]) if "VmHWM" in status else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({**result.to_dict(), "maxrss_kb": peak_kb}))
"""


def _load_in_process(url: str, path: Path, schema: str) -> tuple[dict, float]:
    """The loader run in a fresh Python process: its result and its peak RSS in MB (Linux: KiB)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", _LOADER, url, str(path), schema],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode:
        raise RuntimeError(f"benchmark loader failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, round(result.pop("maxrss_kb") / 1024, 1)


# Time index candidates on the day's rows. The unique key is needed for dedup either way; a key led by
# ts serves time ranges itself, a key led by device_id needs a BRIN on ts for them.
TIME_INDEXES = {
    "btree (ts, device_id, hash)": ["create unique index on {t} (ts, device_id, row_hash)"],
    "btree (device_id, ts, hash)+BRIN(ts)": [
        "create unique index on {t} (device_id, ts, row_hash)",
        "create index on {t} using brin (ts)",
    ],
}


_COLUMNS = sql.SQL("device_id, ts, power_kw, hashrate_ths, gpu_util_pct, temperature_c, load_id")


def compare_time_indexes(conn: psycopg.Connection, schema: str) -> dict[str, dict]:
    """Load the COPY ceiling's rows into a table under each index design and time the two access
    paths: an hour of the whole fleet (staging's windows) and one device over the day (device page)."""
    source = sql.Identifier(schema, "copy_ceiling")
    start, device = conn.execute(sql.SQL("select min(ts), min(device_id) from {}").format(source)).fetchone()
    figures = {}
    for n, (name, statements) in enumerate(TIME_INDEXES.items()):
        table = sql.Identifier(schema, f"index_{n}")
        conn.execute(
            sql.SQL("create table {} (like {} including defaults including generated)").format(table, source)
        )
        for statement in statements:
            conn.execute(sql.SQL(statement).format(t=table))
        _checkpoint(conn)
        started = time.perf_counter()
        conn.execute(
            sql.SQL("insert into {} ({}) select {} from {}").format(table, _COLUMNS, _COLUMNS, source)
        )
        load_seconds = time.perf_counter() - started
        conn.execute(sql.SQL("vacuum analyze {}").format(table))
        size = conn.execute("select pg_indexes_size(%s::regclass)", (table.as_string(conn),)).fetchone()[0]
        hour = _best_ms(
            conn,
            sql.SQL("select count(*), avg(power_kw) from {} where ts >= %s and ts < %s").format(table),
            (start + timedelta(hours=1), start + timedelta(hours=2)),
        )
        day = _best_ms(
            conn,
            sql.SQL(
                "select count(*), avg(power_kw) from {} where device_id = %s and ts >= %s and ts < %s"
            ).format(table),
            (device, start, start + timedelta(days=1)),
        )
        figures[name] = {"load_seconds": round(load_seconds, 3), "size_mb": round(size / 1e6, 1),
                         "hour_range_ms": hour, "device_day_ms": day}  # fmt: skip
    return figures


def _best_ms(conn: psycopg.Connection, query: sql.Composable, params: tuple, repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs, in ms (warm cache: the access path, not the disk)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        conn.execute(query, params).fetchall()
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 2)


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
            say("project loader: parse + validate + COPY, in a process of its own (peak RSS)")
            _checkpoint(conn)
            result, peak_rss_mb = _load_in_process(url, path, schema)
            if result["loaded"] != rows:
                raise RuntimeError(f"benchmark load kept {result['loaded']} of {rows} rows: {result}")
            say("PostgreSQL COPY of the same file")
            copy_seconds = _copy_ceiling(conn, schema, path)
            sample = min(rows, TO_SQL_ROWS)
            say(f"pandas to_sql of {sample:,} rows")
            to_sql_seconds = _to_sql(url, schema, path, sample)
            say("time index: btree leading with ts vs BRIN on ts")
            indexes = compare_time_indexes(conn, schema)
        finally:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
    project_rate = rows / result["seconds"]
    copy_rate = rows / copy_seconds
    to_sql_rate = sample / to_sql_seconds
    return {
        "rows": rows,
        "file_mb": file_mb,
        "project_seconds": round(result["seconds"], 3),
        "chunk_rows": limits.chunk_rows(),
        "loader_peak_rss_mb": peak_rss_mb,
        "copy_seconds": round(copy_seconds, 3),
        "to_sql_rows": sample,
        "to_sql_seconds": round(to_sql_seconds, 3),
        "project_rows_per_s": round(project_rate),
        "copy_rows_per_s": round(copy_rate),
        "to_sql_rows_per_s": round(to_sql_rate),
        "project_vs_copy": round(project_rate / copy_rate, 3),
        "project_vs_to_sql": round(project_rate / to_sql_rate, 1),
        "indexes": indexes,
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
        f"loader peak RSS  = {result['loader_peak_rss_mb']:,.0f} MB for a {result['file_mb']} MB file"
        f" (chunks of {result['chunk_rows']:,} rows)",
        f"{'time index on one day of rows':<40}{'load s':>8}{'size MB':>10}{'1-hour range ms':>18}{'1-device day ms':>18}",
    ]
    for name, figures in result["indexes"].items():
        lines.append(
            f"  {name:<38}{figures['load_seconds']:>8.2f}{figures['size_mb']:>10.1f}"
            f"{figures['hour_range_ms']:>18.1f}{figures['device_day_ms']:>18.1f}"
        )
    return "\n".join(lines)
