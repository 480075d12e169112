"""The nightly backup job: ``core.backup`` of the platform and Dagster databases into
``$HCP_HOME/backups``, older backups pruned after ``HCP_BACKUP_KEEP_DAYS``.

(No ``from __future__ import annotations``: Dagster reads the op's ``context`` annotation.)"""

import base64

import dagster as dg

from assets.automation import schedule_status
from assets.resources import PostgresResource


def current_key() -> str | None:
    """The PII key (base64) to seal into a backup, when there is one."""
    from core.pii import MissingKeyError, load_key

    try:
        return base64.b64encode(load_key().key).decode()
    except MissingKeyError:
        return None


@dg.op(tags={"hcp/backup": "nightly"})
def backup_databases(context: dg.OpExecutionContext, postgres: PostgresResource) -> None:
    from core.backup import backup, prune
    from core.settings import get_settings

    settings = get_settings()
    manifest = backup(postgres.get_url(), settings.backups, settings.backup_passphrase, current_key())
    gone = prune(settings.backups, settings.backup_keep_days)
    context.log.info(f"backup {manifest['path']}: {manifest['bytes']} bytes in {manifest['seconds']} s")
    if gone:
        context.log.info(f"pruned {len(gone)} backups older than {settings.backup_keep_days} days")


@dg.job(tags={"hcp/backup": "nightly"}, description="Back up the platform and Dagster databases.")
def backup_nightly():
    backup_databases()


backup_schedule = dg.ScheduleDefinition(
    job=backup_nightly, cron_schedule="15 2 * * *", execution_timezone="UTC", default_status=schedule_status()
)

defs = dg.Definitions(jobs=[backup_nightly], schedules=[backup_schedule])
