"""Data quality in Dagster: GE suites as asset checks, data freshness checks, and the alert sensors.

- Suites on raw inputs are *blocking* checks: when one fails, assets downstream of the input in
  the same run (marts, the allocation plan, invoices) do not run.
- Freshness checks compare the newest data in the table with now; they are non-blocking WARN
  checks, because a late feed should be seen, not stop the reprocessing of history (simulated demo
  data ends at today 00:00 UTC, so they honestly warn in the demo).
- Mart checks are registered only for marts present in the asset graph.
- Two sensors turn failed runs and failed check evaluations into alerts (``ops.alerts`` + hook).
"""

import warnings
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg

from assets import billing, marts
from assets.automation import schedule_status, sensor_status
from assets.ingestion import daily_partitions
from assets.resources import PostgresResource
from expectations.alerts import CHECK_ALERT_QUIET, Alert, raise_alert
from expectations.runner import CheckOutcome, record_outcome, run_check
from expectations.suites import CHECKS, MART_CHECKS, CheckSpec

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

QUALITY = "quality"
PRICES_MAX_AGE = timedelta(hours=1)
TELEMETRY_MAX_AGE = timedelta(minutes=15)


def _combine(
    spec: CheckSpec, outcomes: list[CheckOutcome], severity: dg.AssetCheckSeverity
) -> dg.AssetCheckResult:
    passed = all(o.passed for o in outcomes)
    failing = [f for o in outcomes for f in o.failing]
    sample = [{"partition": o.partition, **row} for o in outcomes for row in o.sample][:10]
    first = failing[0] if failing else None
    metadata = {
        "passed": passed,
        "partitions": dg.MetadataValue.json([o.partition for o in outcomes]),
        "rows_checked": sum(o.rows_checked for o in outcomes),
        "unexpected_count": sum(o.unexpected_count for o in outcomes),
        "failing_expectation": (
            f"{first['suite']}: {first['expectation']} {first['kwargs']}" if first else "none"
        ),
        "failing": dg.MetadataValue.json(failing),
        "sample": dg.MetadataValue.json(sample),
        "seconds": round(sum(o.seconds for o in outcomes), 3),
    }
    return dg.AssetCheckResult(
        passed=passed, metadata=metadata, severity=severity, description=spec.description
    )


def _days(context: dg.AssetCheckExecutionContext) -> list[str]:
    if context.has_partition_key_range:
        return list(context.partition_keys)
    return [context.partition_key]


def suite_check(spec: CheckSpec, asset_key: dg.AssetKey | None = None) -> dg.AssetChecksDefinition:
    """The asset check running ``spec``'s suites (per partition day when the asset is daily).

    Blocking checks fail with ERROR severity and stop downstream assets; the others only WARN.
    """
    key = asset_key or dg.AssetKey(list(spec.asset))
    severity = dg.AssetCheckSeverity.ERROR if spec.blocking else dg.AssetCheckSeverity.WARN

    @dg.asset_check(
        asset=key,
        name=spec.name,
        description=spec.description,
        blocking=spec.blocking,
        partitions_def=daily_partitions() if spec.daily else None,
        metadata={"suites": ", ".join(f.suite for f in spec.frames)},
    )
    def _check(context: dg.AssetCheckExecutionContext, postgres: PostgresResource) -> dg.AssetCheckResult:
        url = postgres.get_url()
        outcomes = []
        for day in _days(context) if spec.daily else [None]:
            outcome = run_check(url, spec, day)
            record_outcome(url, outcome, severity.value, context.run.run_id)
            outcomes.append(outcome)
            context.log.info(f"{spec.name} {day or ''}: passed={outcome.passed} rows={outcome.rows_checked}")
        return _combine(spec, outcomes, severity)

    return _check


# --- freshness ------------------------------------------------------------------------------------

# Newest *data* time, not load time: a reload of old files must not make a stale feed look fresh.
PRICES_NEWEST_SQL = """
select coalesce(max(interval_start_utc + interval_minutes * interval '1 minute') filter (where price_kind = 'rt'),
                max(interval_start_utc + interval_minutes * interval '1 minute') filter (where interval_start_utc <= now()))
from raw.energy_prices
"""
TELEMETRY_NEWEST_SQL = "select max(ts) from raw.device_telemetry where ts <= now() + interval '5 minutes'"


def newest_at(url: str, sql: str) -> datetime | None:
    """The newest data timestamp the query returns (None for an empty table)."""
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def freshness_check(table: str, sql: str, max_age: timedelta) -> dg.AssetChecksDefinition:
    """A non-blocking WARN check: the newest data in ``raw.<table>`` is at most ``max_age`` old."""

    @dg.asset_check(
        asset=dg.AssetKey(["raw", table]),
        name=f"{table}_freshness",
        description=f"Newest data in raw.{table} is at most {max_age} old (WARN).",
        blocking=False,
        metadata={"max_age_minutes": max_age.total_seconds() / 60},
    )
    def _check(context: dg.AssetCheckExecutionContext, postgres: PostgresResource) -> dg.AssetCheckResult:
        newest = newest_at(postgres.get_url(), sql)
        now = datetime.now(UTC)
        age = (now - newest) if newest else None
        passed = age is not None and age <= max_age
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "newest_data_at": str(newest) if newest else "no data",
                "age_minutes": round(age.total_seconds() / 60, 1) if age else -1.0,
                "max_age_minutes": max_age.total_seconds() / 60,
                "checked_at": now.isoformat(),
            },
        )

    return _check


prices_freshness = freshness_check("energy_prices", PRICES_NEWEST_SQL, PRICES_MAX_AGE)
telemetry_freshness = freshness_check("device_telemetry", TELEMETRY_NEWEST_SQL, TELEMETRY_MAX_AGE)
freshness_checks = [prices_freshness, telemetry_freshness]

freshness_job = dg.define_asset_job(
    "quality_freshness",
    selection=dg.AssetSelection.checks(*freshness_checks),
    description="Evaluate the data freshness checks (prices 1 h, telemetry 15 min).",
)
freshness_schedule = dg.ScheduleDefinition(
    job=freshness_job,
    cron_schedule="*/15 * * * *",
    default_status=schedule_status(),  # on demo data (a day old) the checks fail, as they should
)

# --- alerts ---------------------------------------------------------------------------------------


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    monitor_all_code_locations=True,
    default_status=sensor_status(),
    description="Writes an ops.alerts row and calls the configured hook for every failed run.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, postgres: PostgresResource) -> None:
    run = context.dagster_run
    message = context.failure_event.message if context.failure_event else ""
    raise_alert(
        postgres.get_url(),
        Alert(
            source="run_failure",
            title=f"run {run.run_id[:8]} of {run.job_name} failed",
            run_id=run.run_id,
            partition_key=run.tags.get("dagster/partition"),
            payload={"job": run.job_name, "message": message, "tags": dict(run.tags)},
        ),
    )


def failed_check_evaluations(instance: dg.DagsterInstance, after: int | None, limit: int = 200) -> list:
    """Event records of asset-check evaluations after storage id ``after``, oldest first."""
    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after),
        limit=limit,
        ascending=True,
    )
    return list(records)


def _alerts_for(records: Iterable) -> list[Alert]:
    alerts = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed:
            continue
        metadata = {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()}
        severity = evaluation.severity.value if evaluation.severity else "ERROR"
        asset = evaluation.asset_key.to_user_string()
        alerts.append(
            Alert(
                source="check_failure",
                severity=severity,
                title=f"check {evaluation.check_name} failed on {asset}",
                asset_key=asset,
                check_name=evaluation.check_name,
                partition_key=getattr(evaluation, "partition", None)
                or record.event_log_entry.dagster_event.partition,
                run_id=record.event_log_entry.run_id,
                payload=metadata,
            )
        )
    return alerts


@dg.sensor(
    name="alert_on_check_failure",
    minimum_interval_seconds=60,
    default_status=sensor_status(),
    description="Writes an ops.alerts row and calls the configured hook for every failed asset check.",
)
def alert_on_check_failure(context: dg.SensorEvaluationContext, postgres: PostgresResource) -> dg.SkipReason:
    after = int(context.cursor) if context.cursor else None
    if after is None:  # first tick: start from now, do not replay the whole history as alerts
        latest = context.instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION),
            limit=1,
            ascending=False,
        )
        context.update_cursor(str(latest[0].storage_id if latest else 0))
        return dg.SkipReason("cursor initialised")
    records = failed_check_evaluations(context.instance, after)
    alerts = _alerts_for(records)
    if alerts:
        url = postgres.get_url()
        for alert in alerts:
            raise_alert(url, alert, quiet_for=CHECK_ALERT_QUIET)
    if records:
        context.update_cursor(str(records[-1].storage_id))
    return dg.SkipReason(f"{len(alerts)} alert(s) raised from {len(records)} check evaluation(s)")


# --- definitions ----------------------------------------------------------------------------------


def mart_asset_keys(keys: Iterable[dg.AssetKey]) -> dict[str, dg.AssetKey]:
    """Asset keys of the graph by their last path component (a dbt model's name)."""
    return {key.path[-1]: key for key in keys}


def _present_assets() -> dict[str, dg.AssetKey]:
    """Assets of the domains whose checks sit on them (dbt marts, invoices), by name."""
    found: dict[str, dg.AssetKey] = {}
    for domain_defs in (marts.defs, billing.defs):
        # read the keys off the definitions: resolving them would demand the domain's resources
        for item in domain_defs.assets or []:
            keys = getattr(item, "keys", None) or [getattr(item, "key", None)]
            found.update(mart_asset_keys(k for k in keys if k is not None))
    return found


def build_checks(marts: dict[str, dg.AssetKey] | None = None) -> list[dg.AssetChecksDefinition]:
    """Every suite check: raw ones always, mart ones for marts in ``marts`` (name -> asset key)."""
    checks = [suite_check(spec) for spec in CHECKS]
    for spec in MART_CHECKS:
        if marts and spec.mart in marts:
            checks.append(suite_check(spec, marts[spec.mart]))
    return checks


suite_checks = build_checks(_present_assets())

defs = dg.Definitions(
    asset_checks=[*suite_checks, *freshness_checks],
    jobs=[freshness_job],
    schedules=[freshness_schedule],
    sensors=[alert_on_run_failure, alert_on_check_failure],
)
