"""raw.fleet_status at fleet scale: one row per machine and poll (300k miners polled every minute is
432M rows a day), so it is partitioned by day like telemetry, deduplicated by its unique key in the
database, pruned by age (nothing aggregates it), and migration 0023 keeps every row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from core.migrate import available, migrate
from ingestion.loader import ingest_file
from ingestion.retention import day_partitions, prune
from tests.orchestration.test_migrations import _empty_database

pytestmark = pytest.mark.fresh_database

FLEET_PARTITIONED = next(m.version for m in available() if m.name == "partitioned_fleet_status")


def _poll(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps({"source": "miner", "state": "mining", **r}) + "\n" for r in rows))
    return path


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_fleet_status_days_are_partitions_and_a_repeated_poll_is_a_duplicate(raw, tmp_path):
    rows = [
        {"device_id": "asic-0001", "ts": _ts("2026-01-14T23:59:00+00:00"), "power_w": 3400.0,
         "controls": ["pause", "resume"]},
        {"device_id": "asic-0001", "ts": _ts("2026-01-15T00:00:00+00:00"), "power_w": 3390.0},
        {"device_id": "asic-0002", "ts": _ts("2026-01-15T00:00:00+00:00"), "state": "unreachable"},
    ]  # fmt: skip
    first = ingest_file(raw, "fleet-status", _poll(tmp_path / "a.jsonl", rows))
    assert (first.rows_in, first.loaded, first.duplicates_skipped) == (3, 3, 0)
    assert sorted(day_partitions(raw, "fleet_status").values()) == [
        "fleet_status_p20260114", "fleet_status_p20260115",
    ]  # fmt: skip
    # the same poll again (a re-sent file) is skipped row by row; a changed reading is a new version
    again = ingest_file(
        raw, "fleet-status", _poll(tmp_path / "b.jsonl", [*rows[:2], {**rows[2], "state": "error"}])
    )
    assert (again.rows_in, again.loaded, again.duplicates_skipped) == (3, 1, 2)
    assert raw.execute("select count(*) from raw.fleet_status").fetchone() == (4,)


def test_prune_drops_old_fleet_status_days_without_a_mart(raw, database_url, tmp_path):
    rows = [{"device_id": "asic-0001", "ts": _ts(f"2026-01-{d}T12:00:00+00:00"), "power_w": 3400.0}
            for d in (10, 11, 12)]  # fmt: skip
    ingest_file(raw, "fleet-status", _poll(tmp_path / "p.jsonl", rows))
    result = prune(database_url, keep_days=1, now=datetime(2026, 1, 13, tzinfo=UTC))
    assert result.dropped["fleet_status"] == ["fleet_status_p20260110", "fleet_status_p20260111"]
    assert list(day_partitions(raw, "fleet_status").values()) == ["fleet_status_p20260112"]


def test_migration_0023_keeps_every_fleet_status_row(database_url):
    columns = "device_id, ts, source, address, state, power_kw, fans_rpm, errors, pool, detail, load_id"
    rows = [
        ("asic-1", "2026-01-15 00:00+00", "miner", "10.0.0.1", "mining", 3.3, ["4800"], [], "p", "S21", 1),
        ("asic-1", "2026-01-15 00:00+00", "miner", "10.0.0.1", "mining", 3.3, ["4800"], [], "p", "S21", 2),
        ("gpu-1", "2026-01-16 00:01+00", "gpu", None, "unreachable", None, None, None, None, "timeout", 3),
    ]
    with _empty_database(database_url, "hcp_mig_0023") as url:
        migrate(url, up_to=FLEET_PARTITIONED - 1)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.cursor().executemany(
                f"insert into raw.fleet_status ({columns}) values ({', '.join(['%s'] * 11)})", rows
            )
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            after = conn.execute(f"select {columns} from raw.fleet_status order by ts, load_id").fetchall()
            kind = conn.execute("select relkind from pg_class where oid = 'raw.fleet_status'::regclass")
            assert kind.fetchone() == ("p",)
            latest = conn.execute(
                "select device_id, state from ops.fleet_status_latest order by 1"
            ).fetchall()
    # an exact copy loaded twice (only possible by hand before: the loader skipped it) keeps its first load
    assert [r[-1] for r in after] == [1, 3] and len(after) == 2
    assert latest == [("asic-1", "mining"), ("gpu-1", "unreachable")]
