"""End to end through Dagster: a small simulated fleet, materialized in process like `hcp materialize`."""

from datetime import UTC, datetime

import pytest

from core.settings import get_settings
from ingestion.simulator import simulate
from orchestration.materialize import landing_days, materialize

# real materializations: handed out first (tests/conftest.py)
pytestmark = pytest.mark.slow(seconds=80)

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


def test_a_dbt_run_parses_only_what_changed_since_the_last_run(small_fleet):
    """The project is parsed at load without the database; the first run on a database re-parses in
    full ("profile has changed"), and its state is kept so that the next run does not."""
    from assets.marts import DBT_PROJECT_DIR

    def dbt_log(stage) -> str:
        (folder,) = (DBT_PROJECT_DIR / "target").glob(f"hcp_dbt_models-{stage.run_id[:7]}-*")
        return (folder / "dbt.log").read_text()

    assert all(stage.success for stage in materialize("group:ingestion"))
    first, second = (materialize("key:marts/dim_facilities")[-1] for _ in range(2))
    assert first.success and second.success
    assert "Unable to do partial parsing" not in dbt_log(second)
    assert "Partial parsing enabled" in dbt_log(second) or "partial parse" in dbt_log(second).lower()


def test_only_the_newest_dbt_run_folders_are_kept(tmp_path):
    import os

    from assets.marts import keep_run_state

    target = tmp_path / "target"
    runs = []
    for i in range(5):
        run = target / f"hcp_dbt_models-{i:07d}-abcdef0"
        run.mkdir(parents=True)
        (run / "partial_parse.msgpack").write_bytes(bytes([i]))
        os.utime(run, (1_000_000 + i, 1_000_000 + i))
        runs.append(run)
    (target / "other").mkdir()
    keep_run_state(runs[-1], keep=2, target=target)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        ["other", "partial_parse.msgpack", runs[-2].name, runs[-1].name]
    )
    assert (target / "partial_parse.msgpack").read_bytes() == bytes([4])
