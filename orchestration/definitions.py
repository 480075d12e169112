"""The one Dagster entry point: merges the per-domain Definitions and applies shared policy once."""

from __future__ import annotations

import dagster as dg

from assets import allocation, billing, fleet, ingestion, marts, ml, quality
from assets.groups import INTERMEDIATE, MARTS, STAGING
from assets.resources import default_resources
from orchestration import automation, backups, retention
from orchestration.sensors import landing_folder_sensor

# The dbt models follow their inputs (orchestration.automation); this job is for a manual rebuild.
refresh_marts_job = dg.define_asset_job(
    "refresh_marts",
    selection=dg.AssetSelection.groups(STAGING, INTERMEDIATE, MARTS),
    description="Rebuild the dbt staging, intermediate and mart models (incremental where large).",
)


def _ingestion_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=ingestion.raw_assets,
        jobs=[ingestion.ingest_daily_job, ingestion.ingest_reference_job, refresh_marts_job],
        sensors=[landing_folder_sensor],
    )


# Steps run inside the run's own process: a process per step would import the platform again for
# each (seconds of CPU per step), for jobs whose steps mostly wait on PostgreSQL and dbt anyway.
defs = automation.apply(
    dg.Definitions.merge(
        _ingestion_definitions(),
        marts.defs,
        quality.defs,
        ml.defs,
        allocation.defs,
        billing.defs,
        fleet.defs,
        backups.defs,
        retention.defs,
        dg.Definitions(resources=default_resources(), executor=dg.in_process_executor),
    )
)
