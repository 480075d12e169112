"""The one Dagster entry point: merges the per-domain Definitions and applies shared policy once."""

from __future__ import annotations

import dagster as dg

from assets import allocation, billing, fleet, ingestion, marts, ml, quality
from assets.groups import INTERMEDIATE, MARTS, STAGING
from assets.resources import default_resources
from orchestration.sensors import landing_folder_sensor

ingest_daily_job = dg.define_asset_job(
    "ingest_daily",
    selection=dg.AssetSelection.assets(*ingestion.daily_raw_keys),
    partitions_def=ingestion.daily_partitions(),
    description="Load one day of prices, telemetry, site meters and workload events.",
)
ingest_reference_job = dg.define_asset_job(
    "ingest_reference",
    selection=dg.AssetSelection.assets(*ingestion.reference_raw_keys),
    description="Load reference data: facilities, devices, customers, rate cards, Bitcoin economics.",
)

# dbt models refresh hourly on the hour, ahead of the forecasts (:05), anomalies (:10) and the plan (:05),
# which read them; incremental models re-read their lookback window, so late data lands too.
refresh_marts_job = dg.define_asset_job(
    "refresh_marts",
    selection=dg.AssetSelection.groups(STAGING, INTERMEDIATE, MARTS),
    description="Rebuild the dbt staging, intermediate and mart models (incremental where large).",
)


def _ingestion_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=ingestion.raw_assets,
        jobs=[ingest_daily_job, ingest_reference_job, refresh_marts_job],
        schedules=[
            dg.build_schedule_from_partitioned_job(ingest_daily_job, hour_of_day=0, minute_of_hour=30),
            dg.ScheduleDefinition(job=refresh_marts_job, cron_schedule="0 * * * *"),
        ],
        sensors=[landing_folder_sensor],
    )


defs = dg.Definitions.merge(
    _ingestion_definitions(),
    marts.defs,
    quality.defs,
    ml.defs,
    allocation.defs,
    billing.defs,
    fleet.defs,
    dg.Definitions(resources=default_resources()),
)
