"""Live fleet assets: the poll (miners and GPU nodes), live ISO prices, and the controller run.
Thin: the work is in ``ingestion.live``. Without an inventory the poll and apply do nothing; without
network (``HCP_FLEET_NETWORK``) live prices do nothing; apply is a dry run unless configured."""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from assets.automation import schedule_status, sensor_status
from assets.groups import FLEET
from assets.resources import LandingResource, PostgresResource
from ingestion.live.inventory import FleetSettings, load_inventory

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

POLL = dg.AssetKey(["fleet", "fleet_status"])  # the dbt source the staging view reads
PRICES = dg.AssetKey(["live", "market_prices"])
COMMANDS = dg.AssetKey(["ops", "fleet_commands"])


def _inventory(settings: FleetSettings):
    return load_inventory(settings.inventory) if settings.inventory else None


@dg.asset(key=POLL, group_name=FLEET, description="Every minute: poll the inventory's miners (asic-rs) and "
          "GPU nodes (DCGM exporters) into raw.device_telemetry and raw.fleet_status; compare with the "
          "commands sent.")  # fmt: skip
def fleet_poll(context: dg.AssetExecutionContext, postgres: PostgresResource, landing: LandingResource):
    from ingestion.live.controller import check_commands
    from ingestion.live.fleet import poll_fleet

    settings = FleetSettings()
    inventory = _inventory(settings)
    if inventory is None:
        return dg.MaterializeResult(metadata={"skipped": "no inventory (HCP_FLEET_INVENTORY)"})
    url = postgres.get_url()
    result = poll_fleet(url, inventory, settings, landing.path())
    alerts = check_commands(url)
    summary = result.to_dict()
    return dg.MaterializeResult(
        metadata={
            "miners": result.miners, "miners_reachable": result.miners_reachable,
            "gpu_nodes": result.gpu_nodes, "gpu_nodes_reachable": result.gpu_nodes_reachable,
            "poll_seconds": dg.FloatMetadataValue(result.poll_seconds),
            "miners_per_second": dg.FloatMetadataValue(float(summary["miners_per_second"] or 0.0)),
            "alerts_raised": alerts,
        }
    )  # fmt: skip


@dg.asset(key=PRICES, group_name=FLEET, description="Every 15 minutes: real-time and day-ahead prices of "
          "the configured ISO nodes through gridstatus (off without HCP_FLEET_NETWORK); revisions load "
          "as new versions.")  # fmt: skip
def market_prices(postgres: PostgresResource, landing: LandingResource):
    from ingestion.live.markets import load_market_prices

    settings = FleetSettings()
    inventory = _inventory(settings)
    if not settings.network or inventory is None or not inventory.markets:
        return dg.MaterializeResult(metadata={"skipped": "live prices off (no network or no markets)"})
    today = datetime.now(UTC).date()
    days = [today.isoformat(), (today + timedelta(days=1)).isoformat()]
    loads = load_market_prices(postgres.get_url(), inventory.markets, days, landing.path(), network=True)
    return dg.MaterializeResult(metadata={"rows": sum(x.rows for x in loads), "loads": len(loads)})


class ApplyConfig(dg.Config):
    """``execute``: send the commands; the default records them only (dry run)."""

    execute: bool = False


@dg.asset(key=COMMANDS, group_name=FLEET, deps=[POLL, dg.AssetKey(["ops", "allocation_plan"])],
          description="The latest plan through the safety rules to device commands (dry run unless "
          "configured), recorded in ops.fleet_commands and the audit log.")  # fmt: skip
def fleet_commands(context: dg.AssetExecutionContext, config: ApplyConfig, postgres: PostgresResource):
    from ingestion.live.controller import apply_plan

    settings = FleetSettings()
    inventory = _inventory(settings)
    if inventory is None:
        return dg.MaterializeResult(metadata={"skipped": "no inventory (HCP_FLEET_INVENTORY)"})
    result = apply_plan(postgres.get_url(), inventory, settings, execute=config.execute)
    return dg.MaterializeResult(
        metadata={"mode": result.mode, "decided": result.decided, "held_back": result.skipped,
                  "applied": result.applied, "failed": result.failed, "plan_id": result.plan_id or ""}
    )  # fmt: skip


fleet_poll_job = dg.define_asset_job("fleet_poll", selection=[POLL], description="Poll the fleet once.")
market_prices_job = dg.define_asset_job("market_prices", selection=[PRICES], description="Load live prices.")
fleet_apply_job = dg.define_asset_job(
    "fleet_apply", selection=[COMMANDS], description="Apply the latest plan (dry run unless configured)."
)


@dg.sensor(job=fleet_apply_job, minimum_interval_seconds=15, default_status=sensor_status(),
           description="Every 15 s: run the controller when the plan and the last poll differ, and at "
           "once when a facility breaches its power cap or the real-time price spikes. Sends commands only with "
           "HCP_FLEET_EXECUTE; otherwise the runs record a dry run.")  # fmt: skip
def fleet_controller_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    from ingestion.live.controller import apply_trigger

    settings = FleetSettings()
    if settings.inventory is None:
        return dg.SkipReason("no inventory (HCP_FLEET_INVENTORY)")
    due = apply_trigger(postgres.get_url(), settings)
    if due is None:
        return dg.SkipReason("every machine is as planned, and no emergency")
    key, trigger = due
    config = dg.RunConfig(ops={"ops__fleet_commands": ApplyConfig(execute=settings.execute)})
    # Ahead of queued polls and loads in the run queue: an emergency first, then the plan.
    priority = "10" if trigger == "emergency" else "5"
    return dg.RunRequest(
        run_key=key, run_config=config, tags={"hcp/trigger": trigger, "dagster/priority": priority}
    )


def _when_configured(
    job: "UnresolvedAssetJobDefinition", cron: str, needs_network: bool = False
) -> dg.ScheduleDefinition:
    """A schedule of ``job`` that asks for a run only when there is something to poll: without an
    inventory (or, for live prices, without network) the run would do nothing, and each run is a
    process that imports the whole code location, every minute."""

    @dg.schedule(job=job, cron_schedule=cron, name=f"{job.name}_schedule", default_status=schedule_status())
    def _schedule(context: dg.ScheduleEvaluationContext):
        settings = FleetSettings()
        if settings.inventory is None:
            return dg.SkipReason("no fleet inventory (HCP_FLEET_INVENTORY): nothing to poll")
        if needs_network and not settings.network:
            return dg.SkipReason("live prices off (HCP_FLEET_NETWORK)")
        busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
        if context.instance.get_runs_count(dg.RunsFilter(job_name=job.name, statuses=busy)):
            # A slow machine must not pile up polls: the next tick after this one ends polls again.
            return dg.SkipReason(f"the previous {job.name} run has not finished")
        return dg.RunRequest()

    return _schedule


defs = dg.Definitions(
    assets=[fleet_poll, market_prices, fleet_commands],
    jobs=[fleet_poll_job, market_prices_job, fleet_apply_job],
    sensors=[fleet_controller_sensor],
    schedules=[
        _when_configured(fleet_poll_job, "* * * * *"),
        _when_configured(market_prices_job, "*/15 * * * *", needs_network=True),
        # Sending commands is an operator's decision: this schedule starts stopped, and runs dry unless configured.
        dg.ScheduleDefinition(job=fleet_apply_job, cron_schedule="2-59/5 * * * *"),
    ],
)  # fmt: skip
