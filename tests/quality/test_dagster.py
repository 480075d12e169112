"""The suites inside Dagster: blocking on a bad price day, freshness warnings, alert sensors."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from assets import quality
from assets.ingestion import daily_partitions, raw_assets
from assets.resources import LandingResource, PostgresResource
from ingestion.bulk import ensure_day_partitions
from tests.quality import data

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

RAW_PRICES = next(a for a in raw_assets if dg.AssetKey(["raw", "energy_prices"]) in a.keys)
PRICES_CHECK = next(c for c in quality.suite_checks if "energy_prices_suite" in str(c.check_keys))
downstream_runs: list[str] = []


@dg.asset(deps=[dg.AssetKey(["raw", "energy_prices"])], partitions_def=daily_partitions())
def allocation_plan_stand_in(context: dg.AssetExecutionContext) -> None:
    downstream_runs.append(context.partition_key)


def write_ercot_day(root, bad_price: float | None) -> None:
    """An ERCOT RT file for ``data.DAY`` (HB_NORTH, 96 intervals), one price replaced by ``bad_price``."""
    lines = [
        "DeliveryDate,DeliveryHour,DeliveryInterval,SettlementPointName,SettlementPointType,SettlementPointPrice,DSTFlag"
    ]
    for i in range(96):
        price = bad_price if (bad_price is not None and i == 60) else 25.0 + i % 5
        lines.append(f"03/10/2026,{i // 4 + 1},{i % 4 + 1},HB_NORTH,HU,{price:.2f},N")
    path = root / "prices" / "ercot_rt" / "rtm_spp_20260310.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def materialize_day(quality_url: str, landing) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [RAW_PRICES, allocation_plan_stand_in, PRICES_CHECK],
        partition_key=data.DAY,
        resources={
            "postgres": PostgresResource.at(quality_url),
            "landing": LandingResource(root=str(landing)),
        },
        raise_on_error=False,
    )


@pytest.mark.parametrize("bad_price", [None, 6000.0])
def test_bad_price_day_blocks_downstream(qconn, quality_url, tmp_path, bad_price):
    data.open_load(qconn)
    write_ercot_day(tmp_path, bad_price)
    downstream_runs.clear()
    result = materialize_day(quality_url, tmp_path)
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.passed is (bad_price is None)
    if bad_price is None:
        assert downstream_runs == [data.DAY]
        return
    assert downstream_runs == []  # the blocking check stopped the plan
    metadata = evaluation.metadata
    assert metadata["unexpected_count"].value == 1
    assert "expect_column_pair_values_a_to_be_greater_than_b" in metadata["failing_expectation"].value
    assert metadata["sample"].value[0]["price_usd_per_mwh"] == 6000.0
    stored = qconn.execute("select passed, partition_key from ops.check_results").fetchall()
    assert stored == [(False, data.DAY)]


def freshness_defs(quality_url: str) -> dg.Definitions:
    return dg.Definitions(
        assets=[dg.AssetSpec(["raw", "energy_prices"]), dg.AssetSpec(["raw", "device_telemetry"])],
        asset_checks=quality.freshness_checks,
        jobs=[quality.freshness_job],
        sensors=[quality.alert_on_check_failure, quality.alert_on_run_failure],
        resources={"postgres": PostgresResource.at(quality_url)},
    )


def insert_reading(conn, age: timedelta) -> None:
    ts = datetime.now(UTC) - age
    ensure_day_partitions(conn, "device_telemetry", [ts])
    conn.execute(
        "insert into raw.device_telemetry (device_id, ts, power_kw, load_id) values ('asic-001', %s, 3.0, 1)",
        (ts,),
    )
    conn.execute(
        """insert into raw.energy_prices values ('ERCOT', 'HB_NORTH', 'rt', %s, 15, %s, 30.0, 1)""",
        (ts - timedelta(minutes=15), (ts - timedelta(minutes=15)).replace(tzinfo=None)),
    )


def freshness(instance, quality_url) -> dict[str, dg.AssetCheckEvaluation]:
    job = freshness_defs(quality_url).resolve_job_def("quality_freshness")
    result = job.execute_in_process(instance=instance)
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_freshness_fresh_and_stale(qconn, quality_url):
    data.open_load(qconn)
    insert_reading(qconn, timedelta(minutes=5))
    with dg.DagsterInstance.ephemeral() as instance:
        fresh = freshness(instance, quality_url)
        assert fresh["device_telemetry_freshness"].passed and fresh["energy_prices_freshness"].passed
        data.forget_readings(qconn)
        insert_reading(qconn, timedelta(hours=2))
        stale = freshness(instance, quality_url)
    for name in ("device_telemetry_freshness", "energy_prices_freshness"):
        assert not stale[name].passed
        assert stale[name].severity == dg.AssetCheckSeverity.WARN
    assert stale["device_telemetry_freshness"].metadata["age_minutes"].value >= 119


def test_check_failure_sensor_writes_alert_and_runs_command(qconn, quality_url, tmp_path, monkeypatch):
    out = tmp_path / "alert.json"
    monkeypatch.setenv("HCP_ALERT_COMMAND", f"cat > {out}")
    monkeypatch.delenv("HCP_ALERT_WEBHOOK", raising=False)
    data.open_load(qconn)
    insert_reading(qconn, timedelta(hours=3))
    resources = {"postgres": PostgresResource.at(quality_url)}
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.build_sensor_context(instance=instance, resources=resources)
        quality.alert_on_check_failure(first)  # first tick: cursor at now, no history replayed
        freshness(instance, quality_url)
        tick = dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=resources)
        quality.alert_on_check_failure(tick)
        freshness(instance, quality_url)  # still stale 15 minutes later: no second page
        again = dg.build_sensor_context(instance=instance, cursor=tick.cursor, resources=resources)
        quality.alert_on_check_failure(again)
    rows = qconn.execute(
        "select source, severity, check_name, hook, hook_status from ops.alerts order by alert_id"
    ).fetchall()
    assert sorted(rows) == [
        ("check_failure", "WARN", "device_telemetry_freshness", "command", "ok"),
        ("check_failure", "WARN", "energy_prices_freshness", "command", "ok"),
    ]
    sent = json.loads(out.read_text())  # the last alert's JSON reached the command on stdin
    assert sent["source"] == "check_failure" and sent["payload"]["max_age_minutes"] in (15.0, 60.0)


def test_run_failure_sensor_writes_alert(qconn, quality_url, monkeypatch):
    monkeypatch.delenv("HCP_ALERT_COMMAND", raising=False)
    monkeypatch.delenv("HCP_ALERT_WEBHOOK", raising=False)
    data.open_load(qconn)

    @dg.op
    def explode() -> None:
        raise RuntimeError("boom")

    @dg.job
    def doomed() -> None:
        explode()

    with dg.DagsterInstance.ephemeral() as instance:
        result = doomed.execute_in_process(instance=instance, raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.PIPELINE_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
            resources={"postgres": PostgresResource.at(quality_url)},
        ).for_run_failure()
        quality.alert_on_run_failure(context)
    [(source, title, hook)] = qconn.execute("select source, title, hook from ops.alerts").fetchall()
    assert source == "run_failure" and "doomed" in title and hook is None


def test_quality_defs_merge_into_the_platform():
    from orchestration.definitions import defs as platform

    already = any(getattr(s, "name", None) == "alert_on_check_failure" for s in platform.sensors or [])
    merged = platform if already else dg.Definitions.merge(platform, quality.defs)
    job = merged.resolve_job_def("ingest_daily")
    names = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert {"energy_prices_suite", "device_telemetry_suite", "workload_events_suite"} <= names
    assert {"energy_prices_freshness", "device_telemetry_freshness"} <= names
    merged.resolve_sensor_def("alert_on_run_failure")
