"""Billing assets, partitioned by month: drafts -> finalized invoices (reconciled) -> reports and
Stripe sync; a budget sensor raises alerts. Thin: the work is in billing.

Metadata carries counts and totals only, never customer PII.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg

from assets.automation import schedule_status, sensor_status
from assets.groups import BILLING
from assets.resources import PostgresResource
from billing.resources import StripeResource, stripe_resource
from core.settings import get_settings

# Invoices read GPU usage from the usage mart (dbt) and the rest (customers, rate cards, devices, prices,
# colocation energy) from dbt staging, where "latest load wins" is applied.
USAGE_MART = dg.AssetKey(["marts", "fct_usage"])
STAGING_INPUTS = [
    "stg_raw__rate_cards",
    "stg_raw__customers",
    "stg_raw__devices",
    "stg_raw__facilities",
    "stg_raw__energy_prices",
    "stg_raw__device_power_live",
]


def monthly_partitions() -> dg.MonthlyPartitionsDefinition:
    """Calendar months from the month of ``HCP_PARTITIONS_START``, the running month included: its
    invoices stay drafts (month to date) until the period and its grace period are over."""
    return dg.MonthlyPartitionsDefinition(
        start_date=get_settings().partitions_start[:7] + "-01", end_offset=1
    )


MONTHLY = monthly_partitions()


def _period(context: dg.AssetExecutionContext) -> str:
    return context.partition_key[:7]


@dg.asset(
    key=["billing", "invoice_drafts"],
    group_name=BILLING,
    partitions_def=MONTHLY,
    deps=[USAGE_MART] + [dg.AssetKey(["staging", name]) for name in STAGING_INPUTS],
    description="Draft invoices of the month for every customer, rebuilt from marts.fct_usage and current prices.",
)
def invoice_drafts(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    from billing.invoices import build_drafts

    with psycopg.connect(postgres.get_url(), autocommit=True) as conn:
        drafts = build_drafts(conn, _period(context))
    return dg.MaterializeResult(
        metadata={
            "drafts": len(drafts),
            "subtotal_usd": str(sum((d.subtotal_usd for d in drafts), 0)),
            "lines": sum(d.lines for d in drafts),
        }
    )


@dg.asset(
    key=["billing", "invoices"],
    group_name=BILLING,
    partitions_def=MONTHLY,
    deps=[invoice_drafts],
    description="Finalized invoices: past the grace period and passing the data-quality gate; gapless numbers.",
)
def invoices(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    from billing.invoices import finalize_period

    with psycopg.connect(postgres.get_url(), autocommit=True) as conn:
        result = finalize_period(conn, _period(context), actor="dagster")
    for message in result["refused"]:
        context.log.warning(message)  # ids, periods and reasons only
    return dg.MaterializeResult(
        metadata={"finalized": len(result["finalized"]), "refused": len(result["refused"])}
    )


@dg.asset_check(asset=invoices, description="Independent recomputation from raw events matches to the cent.")
def invoices_reconcile(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    from billing.reconcile import reconcile

    with psycopg.connect(postgres.get_url(), autocommit=True) as conn:
        result = reconcile(conn)
    return dg.AssetCheckResult(
        passed=not result["differences"],
        metadata={"checked": result["checked"], "differences": len(result["differences"])},
    )


@dg.asset(
    key=["billing", "finance_reports"],
    group_name=BILLING,
    partitions_def=MONTHLY,
    deps=[invoices],
    description="PDF and CSV per invoice and the month's finance summary with receivables ageing.",
)
def finance_reports(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    from billing.reports import write_period_reports

    with psycopg.connect(postgres.get_url(), autocommit=True) as conn:
        result = write_period_reports(conn, _period(context))
    return dg.MaterializeResult(
        metadata={"files": len(result["paths"]), "total_usd": result["summary"]["totals"].get("total", "0")}
    )


@dg.asset(
    key=["billing", "stripe_sync"],
    group_name=BILLING,
    partitions_def=MONTHLY,
    deps=[invoices],
    description="Finalized invoices pushed to Stripe (idempotent); a dry run without STRIPE_API_KEY.",
)
def stripe_sync(
    context: dg.AssetExecutionContext, postgres: PostgresResource, stripe: StripeResource
) -> dg.MaterializeResult:
    from billing.stripe_sync import sync_period

    gateway = stripe.gateway()
    with psycopg.connect(postgres.get_url(), autocommit=True) as conn:
        results = sync_period(conn, _period(context), gateway)
    return dg.MaterializeResult(metadata={"invoices": len(results), "dry_run": stripe.dry_run})


@dg.sensor(
    name="budget_alert_sensor",
    minimum_interval_seconds=900,
    default_status=sensor_status(),
    description="Budget alerts at 50/80/100 % of monthly budgets; sent to HCP_BUDGET_ALERT_HOOK (email, Slack).",
)
def budget_alert_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    from billing.budgets import evaluate_budgets, notify

    with psycopg.connect(postgres.get_url(), autocommit=True) as conn:
        alerts = evaluate_budgets(conn, datetime.now(UTC))
        sent = notify(conn, alerts)
    return dg.SkipReason(f"{len(alerts)} new budget alerts, {sent} notified")


billing_monthly_job = dg.define_asset_job(
    "billing_monthly",
    selection=dg.AssetSelection.groups(BILLING),
    partitions_def=MONTHLY,
    tags={"hcp/billing": "run"},  # one billing run at a time (dagster.yaml tag concurrency)
    description="The monthly billing run: drafts, finalization, reports, Stripe.",
)


@dg.schedule(
    job=billing_monthly_job,
    cron_schedule="0 6 4 * *",
    execution_timezone="UTC",
    default_status=schedule_status(),
)
def billing_monthly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """On the 4th, the previous month's run (the running month is a partition too, for drafts)."""
    tick = context.scheduled_execution_time
    previous = (tick.replace(day=1) - timedelta(days=1)).replace(day=1)
    return dg.RunRequest(partition_key=previous.strftime("%Y-%m-%d"))


defs = dg.Definitions(
    assets=[invoice_drafts, invoices, finance_reports, stripe_sync],
    asset_checks=[invoices_reconcile],
    jobs=[billing_monthly_job],
    # After the grace period (72 h by default) of the month just ended.
    schedules=[billing_monthly_schedule],
    sensors=[budget_alert_sensor],
    resources={"stripe": stripe_resource()},
)
