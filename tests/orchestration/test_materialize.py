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


def test_a_dbt_run_parses_only_what_changed_since_the_last_run(small_fleet, pg, migrated_template, tmp_path):
    """The project is parsed at load without the database; the first run on a database re-parses in
    full ("profile has changed"), and its state is kept, per database, so that the next run there does
    not, even when a run on another database (another platform, another test worker) came between."""
    from assets.marts import DBT_PROJECT_DIR
    from benchmarks.app_fleet import platform_at

    def dbt_log(stage) -> str:
        (folder,) = (DBT_PROJECT_DIR / "target").glob(f"hcp_dbt_models-{stage.run_id[:7]}-*")
        return (folder / "dbt.log").read_text()

    assert all(stage.success for stage in materialize("group:ingestion"))
    first = materialize("key:marts/dim_facilities")[-1]
    with pg.clone(migrated_template.name, "other") as other, platform_at(other, tmp_path / "other"):
        between = materialize("key:marts/dim_facilities")[-1]
        assert between.success
        assert "Unable to do partial parsing" in dbt_log(between)  # its first run: another profile
    second = materialize("key:marts/dim_facilities")[-1]
    assert first.success and second.success
    assert "Unable to do partial parsing" not in dbt_log(second)
    assert "Partial parsing enabled" in dbt_log(second) or "partial parse" in dbt_log(second).lower()


def test_only_the_newest_dbt_run_folders_are_kept(tmp_path):
    import os

    from assets.marts import keep_run_state, seed_run_target

    target = tmp_path / "target"
    runs = []
    for i in range(5):
        run = target / f"hcp_dbt_models-{i:07d}-abcdef0"
        run.mkdir(parents=True)
        (run / "partial_parse.msgpack").write_bytes(bytes([i]))
        os.utime(run, (1_000_000 + i, 1_000_000 + i))
        runs.append(run)
    (target / "other").mkdir()
    keep_run_state(runs[-2], "db2", keep=2, target=target)
    keep_run_state(runs[-1], "db1", keep=2, target=target)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        ["other", "partial_parse.db1.msgpack", "partial_parse.db2.msgpack", runs[-2].name, runs[-1].name]
    )
    # a new run on each database starts from that database's state, one on a third from none
    assert (
        seed_run_target("hcp_dbt_models-1234567", "db1", target) / "partial_parse.msgpack"
    ).read_bytes() == bytes([4])
    assert (
        seed_run_target("hcp_dbt_models-1234567", "db2", target) / "partial_parse.msgpack"
    ).read_bytes() == bytes([3])
    assert not (seed_run_target("hcp_dbt_models-1234567", "db3", target) / "partial_parse.msgpack").exists()
    os.utime(target / "partial_parse.db2.msgpack", (1_000_000, 1_000_000))
    keep_run_state(runs[-1], "db3", keep=2, target=target)  # the oldest state file goes too
    assert sorted(p.name for p in target.glob("partial_parse.*")) == [
        "partial_parse.db1.msgpack",
        "partial_parse.db3.msgpack",
    ]
