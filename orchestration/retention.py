"""The nightly retention job: raw day partitions older than ``HCP_RAW_KEEP_DAYS`` are dropped once the
hourly mart holds them (``ingestion.retention``), and the next days' partitions are created ahead.

(No ``from __future__ import annotations``: Dagster reads the op's ``context`` annotation.)"""

import dagster as dg

from assets.automation import schedule_status
from assets.resources import PostgresResource


@dg.op(tags={"hcp/retention": "nightly"})
def prune_raw_partitions(context: dg.OpExecutionContext, postgres: PostgresResource) -> None:
    from core.settings import get_settings
    from ingestion.retention import PruneRefused, create_ahead, prune

    url = postgres.get_url()
    made = create_ahead(url)
    keep_days = get_settings().raw_keep_days
    try:
        result = prune(url, keep_days)
    except PruneRefused as refused:
        # not a failure of the platform: the marts catch up and the next night prunes
        context.log.warning(str(refused))
        return
    dropped = sum(len(names) for names in result.dropped.values())
    context.log.info(f"{made} partitions created ahead; {dropped} older than {keep_days} days dropped")


@dg.job(
    tags={"hcp/retention": "nightly"}, description="Drop raw partitions the marts hold; create the next ones."
)
def prune_raw_nightly():
    prune_raw_partitions()


prune_schedule = dg.ScheduleDefinition(
    job=prune_raw_nightly,
    cron_schedule="45 2 * * *",
    execution_timezone="UTC",
    default_status=schedule_status(),
)

defs = dg.Definitions(jobs=[prune_raw_nightly], schedules=[prune_schedule])
