"""The one Dagster entry point: merges the per-domain Definitions and applies shared policy once."""

from __future__ import annotations

import dagster as dg

from assets import ingestion
from orchestration.resources import default_resources
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

ingestion_defs = dg.Definitions(
    assets=ingestion.raw_assets,
    jobs=[ingest_daily_job, ingest_reference_job],
    schedules=[
        dg.build_schedule_from_partitioned_job(ingest_daily_job, hour_of_day=0, minute_of_hour=30),
    ],
    sensors=[landing_folder_sensor],
)


def _domain_definitions() -> list[dg.Definitions]:
    """Per-domain Definitions; domains that are not importable yet are simply absent."""
    found = [ingestion_defs]
    try:
        from assets.marts import defs as marts_defs
    except ImportError:
        marts_defs = None
    if marts_defs is not None:
        found.append(marts_defs)
    return found


defs = dg.Definitions.merge(*_domain_definitions(), dg.Definitions(resources=default_resources()))
