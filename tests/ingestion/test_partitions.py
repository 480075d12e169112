"""Telemetry at scale: day partitions created by the loader, dedup by the unique key in the database,
streamed chunks with exact counts, concurrent loads, and the 0017 conversion keeping every row."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from core.migrate import available, migrate
from ingestion.loader import ingest_file
from tests.ingestion.conftest import FIXTURES
from tests.ingestion.test_loader import snapshot
from tests.orchestration.test_migrations import _empty_database

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

PARTITIONED = next(m.version for m in available() if m.name == "partitioned_telemetry")
HEADER = "device_id,ts,power_kw,hashrate_ths,gpu_util_pct,temperature_c\n"


def partitions(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(partition, bound) of raw.device_telemetry."""
    return conn.execute(
        """select c.relname, pg_get_expr(c.relpartbound, c.oid) from pg_inherits i
           join pg_class c on c.oid = i.inhrelid
           where i.inhparent = 'raw.device_telemetry'::regclass order by 1"""
    ).fetchall()


def counts(result) -> tuple[int, int, int, int]:
    return result.rows_in, result.loaded, result.quarantined, result.duplicates_skipped


def _telemetry(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


@pytest.mark.parametrize("chunk_rows", [1, 2, 5, 1000])
def test_chunked_csv_load_counts_exactly(reference, chunk_rows):
    """The fixture's 12 rows (5 good, 1 repeated in the file, 6 bad) give the same counts and the
    same quarantine lines in chunks of any size; a clean and a bad row can share a chunk."""
    result = ingest_file(reference, "telemetry", FIXTURES / "telemetry.csv", chunk_rows=chunk_rows)
    assert counts(result) == (12, 5, 6, 1)
    lines = reference.execute(
        "select line_no from raw.quarantine where kind = 'telemetry' order by 1"
    ).fetchall()
    assert [line for (line,) in lines] == [7, 8, 9, 10, 11, 12]
    again = ingest_file(reference, "telemetry", FIXTURES / "telemetry.csv", chunk_rows=chunk_rows)
    assert counts(again) == (12, 0, 0, 12)  # idempotent: every row a duplicate, quarantine unchanged
    assert (
        reference.execute("select count(*) from raw.quarantine where kind = 'telemetry'").fetchone()[0] == 6
    )


@pytest.mark.parametrize("chunk_rows", [1, 3])
def test_chunked_miner_jsonl_matches_the_whole_file(reference, tmp_path, chunk_rows):
    whole = ingest_file(reference, "miner", FIXTURES / "miner.jsonl")
    before = snapshot(reference)
    chunked = ingest_file(reference, "miner", FIXTURES / "miner.jsonl", chunk_rows=chunk_rows)
    assert counts(chunked) == (whole.rows_in, 0, 0, whole.rows_in)
    assert whole.rows_in == whole.loaded + whole.quarantined + whole.duplicates_skipped
    assert snapshot(reference) == before
    # a longer file in chunks: the repeated polls are duplicates, a broken line is quarantined
    lines = (FIXTURES / "miner.jsonl").read_text().splitlines()
    big = tmp_path / "miner.jsonl"
    big.write_text("\n".join(lines * 3 + ["{not json"]) + "\n")
    result = ingest_file(reference, "miner", big, chunk_rows=chunk_rows)
    valid = whole.loaded + whole.duplicates_skipped
    assert counts(result) == (3 * whole.rows_in + 1, 0, 3 * whole.quarantined + 1, 3 * valid)


def test_day_partitions_are_created_by_the_loader(reference, tmp_path):
    assert partitions(reference) == []
    path = _telemetry(
        tmp_path / "t.csv",
        [
            "asic-0001,2026-01-14T23:55:00Z,3.4,198,,61",
            "asic-0001,2026-01-15T00:00:00Z,3.4,198,,61",
            "asic-0001,2026-01-17T12:00:00-06:00,3.4,198,,61",  # 18:00 UTC on the 17th
        ],
    )
    result = ingest_file(reference, "telemetry", path, chunk_rows=1)
    assert counts(result) == (3, 3, 0, 0)
    assert partitions(reference) == [
        (
            "device_telemetry_p20260114",
            "FOR VALUES FROM ('2026-01-14 00:00:00+00') TO ('2026-01-15 00:00:00+00')",
        ),
        (
            "device_telemetry_p20260115",
            "FOR VALUES FROM ('2026-01-15 00:00:00+00') TO ('2026-01-16 00:00:00+00')",
        ),
        (
            "device_telemetry_p20260117",
            "FOR VALUES FROM ('2026-01-17 00:00:00+00') TO ('2026-01-18 00:00:00+00')",
        ),
    ]
    per_partition = reference.execute(
        "select tableoid::regclass::text, count(*) from raw.device_telemetry group by 1 order by 1"
    ).fetchall()
    assert per_partition == [
        ("raw.device_telemetry_p20260114", 1),
        ("raw.device_telemetry_p20260115", 1),
        ("raw.device_telemetry_p20260117", 1),
    ]
    # no default partition: a row for a day nobody created is refused, not parked
    with pytest.raises(psycopg.errors.CheckViolation, match="no partition"):
        reference.execute(
            "insert into raw.device_telemetry (device_id, ts, power_kw, load_id) values ('x', '2030-01-01', 1, 1)"
        )


def test_partition_creation_is_idempotent_under_concurrency(raw, database_url):
    days = ["2026-02-01", "2026-02-02", "2026-02-03"]
    barrier = threading.Barrier(4)

    def create() -> int:
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            return conn.execute(
                "select raw.create_day_partitions('raw.device_telemetry', %s::date[])", (days,)
            ).fetchone()[0]

    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: create(), range(4)))
    assert sum(made) == 3  # each day made exactly once, whoever got there first
    assert [name for name, _ in partitions(raw)] == [f"device_telemetry_p202602{d:02d}" for d in (1, 2, 3)]


def test_revised_row_is_a_new_version_and_an_exact_copy_a_duplicate(reference, tmp_path):
    first = ingest_file(
        reference,
        "telemetry",
        _telemetry(tmp_path / "a.csv", ["asic-0001,2026-01-15T00:00:00Z,3.41,198.5,,61.5"]),
    )
    revised = _telemetry(
        tmp_path / "b.csv",
        [
            "asic-0001,2026-01-15T00:00:00Z,3.41,198.5,,61.5",  # same values: duplicate
            "asic-0001,2026-01-15T00:00:00Z,3.45,198.5,,61.5",  # revised power: a new version
            "asic-0001,2026-01-15T00:00:00Z,3.45,198.5,,61.5",  # and its copy in the same file
        ],
    )
    second = ingest_file(reference, "telemetry", revised)
    assert counts(second) == (3, 1, 0, 2)
    versions = reference.execute(
        "select load_id, power_kw from raw.device_telemetry where device_id = 'asic-0001' order by load_id"
    ).fetchall()
    assert versions == [(first.load_id, pytest.approx(3.41)), (second.load_id, pytest.approx(3.45))]


def test_loads_of_other_days_run_while_a_load_is_open(reference, database_url, tmp_path):
    """An open load of one day holds no lock that stops a load of another day (which even creates its
    partition meanwhile); a load of the very same row waits for it and counts the row a duplicate."""
    day1 = _telemetry(tmp_path / "d1.csv", ["asic-0001,2026-01-15T00:00:00Z,3.4,198,,61"])
    ingest_file(reference, "telemetry", day1)  # the day-1 partition exists
    open_load = psycopg.connect(database_url)
    with ThreadPoolExecutor(1) as pool:
        try:
            open_load.execute(
                "insert into raw.device_telemetry (device_id, ts, power_kw, load_id) values ('asic-0002', '2026-01-15T00:05Z', 3.3, 99)"
            )  # uncommitted, like a load inside its final transaction
            day2 = _telemetry(tmp_path / "d2.csv", ["asic-0001,2026-01-16T00:00:00Z,3.4,198,,61"])
            other_day = pool.submit(ingest_file, database_url, "telemetry", day2)
            assert counts(other_day.result(timeout=60)) == (1, 1, 0, 0)
            same_row = pool.submit(
                ingest_file,
                database_url,
                "telemetry",
                _telemetry(tmp_path / "same.csv", ["asic-0002,2026-01-15T00:05:00Z,3.3,,,"]),
            )
            with pytest.raises(TimeoutError):
                same_row.result(timeout=2)  # waits on the unique key of the uncommitted row
            open_load.commit()
            assert counts(same_row.result(timeout=60)) == (1, 0, 0, 1)
        finally:
            open_load.close()  # rolls back an open transaction: a waiting load is released


def test_concurrent_loads_of_different_days(reference, database_url, tmp_path):
    files = [
        _telemetry(
            tmp_path / f"day{day}.csv",
            [
                f"{device},2026-01-{day:02d}T{hour:02d}:00:00Z,3.4,198,,61"
                for device in ("asic-0001", "asic-0002")
                for hour in range(24)
            ],
        )
        for day in (20, 21, 22, 23)
    ]
    barrier = threading.Barrier(len(files))

    def load(path: Path):
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            return ingest_file(conn, "telemetry", path, chunk_rows=7)

    with ThreadPoolExecutor(len(files)) as pool:
        results = list(pool.map(load, files))
    assert [counts(r) for r in results] == [(48, 48, 0, 0)] * 4
    assert reference.execute("select count(*) from raw.device_telemetry").fetchone()[0] == 4 * 48
    assert len(partitions(reference)) == 4


def test_migration_0017_keeps_every_row(database_url):
    """Rows loaded before 0017 (versions, several days) are all in the partitioned table after it."""
    rows = [
        ("asic-1", "2026-01-15 00:00+00", 3.0, 190.0, None, 60.0, 1),
        ("asic-1", "2026-01-15 00:00+00", 3.1, 190.0, None, 60.0, 2),  # a revised version
        ("gpu-1", "2026-01-15 23:59:59+00", 0.6, None, 90.0, 70.0, 1),
        ("gpu-1", "2026-01-16 00:00+00", 0.6, None, None, None, 3),
    ]
    columns = "device_id, ts, power_kw, hashrate_ths, gpu_util_pct, temperature_c, load_id"
    with _empty_database(database_url, "hcp_mig_0017") as url:
        migrate(url, up_to=PARTITIONED - 1)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.cursor().executemany(
                f"insert into raw.device_telemetry ({columns}) values (%s, %s, %s, %s, %s, %s, %s)", rows
            )
            before = conn.execute(f"select {columns} from raw.device_telemetry order by 1, 2, 7").fetchall()
            # a dbt staging view reads the old table (dbt rebuilds it: `hcp db migrate` runs dbt staging)
            conn.execute("create view staging.power_live as select device_id, ts from raw.device_telemetry")
        assert [m.version for m in migrate(url)] == [
            m.version for m in available() if m.version >= PARTITIONED
        ]
        with psycopg.connect(url, autocommit=True) as conn:
            after = conn.execute(f"select {columns} from raw.device_telemetry order by 1, 2, 7").fetchall()
            assert after == before and len(after) == 4
            kind = conn.execute(
                "select relkind from pg_class where oid = 'raw.device_telemetry'::regclass"
            ).fetchone()
            assert kind == ("p",)
            days = conn.execute(
                "select count(*) from pg_inherits where inhparent = 'raw.device_telemetry'::regclass"
            ).fetchone()
            assert days == (2,)
