"""End to end through Dagster: a small simulated fleet, materialized in process like `hcp materialize`."""

from datetime import UTC, datetime

import pytest

from core.settings import get_settings
from ingestion.simulator import simulate
from orchestration.materialize import landing_days, materialize

END = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def small_fleet(module_url):
    """The simulated fleet's files in the module's landing folder; its database is still empty."""
    landing = get_settings().landing
    simulate(landing, seed=7, facilities=2, devices=40, days=2, end=END, customers=3)
    return landing


def raw_counts(conn) -> dict[str, int]:
    tables = ["facilities", "devices", "energy_prices", "device_telemetry", "site_meter", "workload_events"]
    return {t: conn.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in tables}


def test_landing_days_found(small_fleet):
    # market files cover every local operating day that overlaps the period (Chicago is UTC-6)
    assert landing_days() == ["2026-11-17", "2026-11-18", "2026-11-19"]


def test_materialize_ingestion_twice_is_idempotent(small_fleet, conn):
    first = materialize("group:ingestion")
    assert [stage.name for stage in first] == ["reference", "daily"]
    assert all(stage.success for stage in first)
    counts = raw_counts(conn)
    assert all(n > 0 for n in counts.values()), counts
    log = conn.execute(
        "select sum(rows_in), sum(loaded + quarantined + duplicates_skipped) from raw.load_log"
    ).fetchone()
    assert log[0] == log[1]

    again = materialize("group:ingestion")
    assert all(stage.success for stage in again)
    assert raw_counts(conn) == counts


def test_a_dimension_builds_before_the_marts_that_reference_it(small_fleet, conn):
    # The automation builds dim_devices as soon as its inputs land, before fct_usage exists. The
    # relationship test of fct_usage -> dim_devices belongs to fct_usage: it must wait for both.
    assert all(stage.success for stage in materialize("group:ingestion"))
    built = materialize("key:marts/dim_devices")
    assert built and all(stage.success for stage in built), built
    assert conn.execute("select to_regclass('marts.fct_usage')").fetchone()[0] is None
    assert conn.execute("select count(*) from marts.dim_devices").fetchone()[0] == 40
