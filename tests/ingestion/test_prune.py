"""Retention: raw day partitions are dropped once the hourly mart (built by real dbt) holds them, and
refused while it does not; through the function, the ``hcp db prune`` command and the Dagster job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from assets.resources import PostgresResource
from ingestion.loader import ingest_file
from ingestion.retention import PruneRefused, create_ahead, day_partitions, prune
from orchestration.retention import prune_raw_nightly
from tests.templates import MARTS_FLEET_END

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

HCP = str(Path(sys.executable).parent / "hcp")
AFTER = datetime(2026, 3, 12, tzinfo=UTC)  # keep_days=2 from here: cutoff 2026-03-10, the whole fleet is old


@pytest.fixture(scope="module")
def database_template(marts_fleet_template):
    """The dbt tests' fleet: 2 days of raw telemetry and the marts built from it by dbt."""
    return marts_fleet_template


def _late_file(conn: psycopg.Connection, tmp_path: Path) -> Path:
    """A telemetry file for a day before the fleet: loaded into raw, not yet in the marts."""
    device = conn.execute("select device_id from raw.devices where kind = 'asic' limit 1").fetchone()[0]
    path = tmp_path / "late.csv"
    path.write_text(
        f"device_id,ts,power_kw,hashrate_ths,gpu_util_pct,temperature_c\n{device},2026-03-01T05:00:00Z,3.3,190,,60\n"
    )
    return path


def test_prune_drops_old_days_the_mart_holds(conn, database_url):
    days = day_partitions(conn, "device_telemetry")
    assert len(days) >= 2 and max(days) <= MARTS_FLEET_END.date()
    mart_rows = conn.execute("select count(*) from marts.fct_device_hourly").fetchone()[0]
    dry = prune(database_url, keep_days=2, now=AFTER, dry_run=True)
    assert sorted(dry.dropped["device_telemetry"]) == sorted(days.values())
    assert day_partitions(conn, "device_telemetry") == days  # a dry run drops nothing
    result = prune(database_url, keep_days=2, now=AFTER)
    assert result.dropped == dry.dropped and result.cutoff == "2026-03-10"
    assert day_partitions(conn, "device_telemetry") == {}
    assert conn.execute("select count(*) from raw.device_telemetry").fetchone()[0] == 0
    assert conn.execute("select count(*) from marts.fct_device_hourly").fetchone()[0] == mart_rows
    # the newest day is kept when it is inside the window
    keep = prune(database_url, keep_days=2, now=AFTER)
    assert keep.dropped == {"device_telemetry": [], "fleet_status": []}


def test_prune_keeps_days_inside_the_window(conn, database_url):
    days = sorted(day_partitions(conn, "device_telemetry"))
    newest = datetime(days[-1].year, days[-1].month, days[-1].day, tzinfo=UTC)
    result = prune(database_url, keep_days=1, now=newest)  # cutoff: the day before the newest
    assert len(result.dropped["device_telemetry"]) == len(days) - 2
    assert sorted(day_partitions(conn, "device_telemetry")) == days[-2:]


def test_prune_refuses_a_day_the_mart_does_not_hold(conn, database_url, tmp_path):
    assert ingest_file(conn, "telemetry", _late_file(conn, tmp_path)).loaded == 1
    before = day_partitions(conn, "device_telemetry")
    with pytest.raises(
        PruneRefused, match=r"raw.device_telemetry 2026-03-01 \(1 hours missing .* first 05:00 UTC\)"
    ):
        prune(database_url, keep_days=2, now=AFTER)
    assert day_partitions(conn, "device_telemetry") == before  # nothing dropped, not even covered days


def test_hcp_db_prune_command(conn, database_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url}
    ingest_file(conn, "telemetry", _late_file(conn, tmp_path))
    refused = subprocess.run(
        [HCP, "db", "prune", "--keep-days", "2"], capture_output=True, text=True, env=env, timeout=120
    )
    assert refused.returncode != 0
    assert "does not hold these raw days yet" in refused.stdout + refused.stderr
    conn.execute("drop table raw.device_telemetry_p20260301")  # the late day, by hand
    done = subprocess.run(
        [HCP, "db", "prune", "--keep-days", "2", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(json.loads(done.stdout)["dropped"]["device_telemetry"]) >= 2
    assert day_partitions(conn, "device_telemetry") == {}


def test_nightly_job_creates_ahead_and_prunes(conn, database_url):
    with dg.DagsterInstance.ephemeral() as instance:
        result = prune_raw_nightly.execute_in_process(
            instance=instance, resources={"postgres": PostgresResource.at(database_url)}
        )
    assert result.success
    today = datetime.now(UTC).date()
    # the fleet's March days are older than HCP_RAW_KEEP_DAYS (35) and in the mart: dropped
    assert sorted(day_partitions(conn, "device_telemetry")) == [today + timedelta(days=n) for n in range(3)]
    assert create_ahead(database_url) == 0  # idempotent
