"""Per-customer monthly budgets: usage to date, a month-end projection, alerts at 50/80/100 %.

Usage to date is the customer's priced charges (subtotal less discounts, before tax and credits)
from the start of its current month to ``as_of``; the projection scales it linearly to the whole
month. An alert row is written once per (customer, month, threshold) crossed by usage to date,
then handed to a hook (``HCP_BUDGET_ALERT_HOOK``: ``module:function`` or an http(s) webhook URL,
e.g. a Slack incoming webhook). Alerts carry ids and amounts only, never PII.
"""

from __future__ import annotations

import importlib
import json
import os
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from billing.catalog import load_catalog
from billing.invoices import price_customer, totals_for
from billing.periods import period_bounds, period_of
from billing.usage import load_spans
from core.audit import write_audit
from kernels.billing import exact, round_money

THRESHOLDS = (50, 80, 100)


def set_budget(
    conn: psycopg.Connection,
    customer_id: str,
    monthly_usd: Decimal,
    effective_from: datetime,
    actor: str | None = None,
) -> None:
    """A new budget version for a customer from ``effective_from`` (audited with the previous one)."""
    with conn.transaction():
        before = conn.execute(
            """select monthly_budget_usd, effective_from from billing.budgets where customer_id = %s
               order by effective_from desc limit 1""",
            (customer_id,),
        ).fetchone()
        conn.execute(
            """insert into billing.budgets (customer_id, monthly_budget_usd, effective_from) values (%s, %s, %s)
               on conflict (customer_id, effective_from) do update set monthly_budget_usd = excluded.monthly_budget_usd""",
            (customer_id, Decimal(monthly_usd), effective_from),
        )
        write_audit(
            conn,
            "budget.change",
            f"billing.budgets/{customer_id}",
            {"monthly_budget_usd": before[0], "effective_from": before[1]} if before else None,
            {"monthly_budget_usd": Decimal(monthly_usd), "effective_from": effective_from},
            actor,
        )


def budget_status(conn: psycopg.Connection, as_of: datetime | None = None) -> list[dict]:
    """Per customer with a budget in force: month, budget, usage to date and month-end projection."""
    as_of = as_of or datetime.now(UTC)
    budgets = conn.execute(
        """select distinct on (customer_id) customer_id, monthly_budget_usd from billing.budgets
           where effective_from <= %s order by customer_id, effective_from desc""",
        (as_of,),
    ).fetchall()
    if not budgets:
        return []
    catalog = load_catalog(conn)
    status = []
    for customer_id, budget in budgets:
        customer = catalog.customers.get(customer_id)
        if customer is None:
            continue
        period = period_of(as_of, customer.timezone)
        start, end = period_bounds(period, customer.timezone)
        upto = min(as_of, end)
        spans = load_spans(conn, start, upto, [customer_id])
        priced = price_customer(conn, catalog, customer_id, spans, start, upto)
        totals = totals_for(catalog, customer_id, start, priced.lines)
        to_date = totals.subtotal - totals.discount
        elapsed = (upto - start).total_seconds()
        # Linear projection: the month so far, scaled to the whole month.
        month = int((end - start).total_seconds())
        projected = round_money(exact(to_date) * month / int(elapsed)) if elapsed >= 1 else to_date
        status.append(
            {
                "customer_id": customer_id,
                "period": period,
                "budget_usd": budget,
                "usage_to_date_usd": to_date,
                "projected_usd": projected,
            }
        )
    return status


def evaluate_budgets(conn: psycopg.Connection, as_of: datetime | None = None) -> list[dict]:
    """Write an alert for every threshold newly crossed by usage to date; returns the new alerts."""
    new = []
    for row in budget_status(conn, as_of):
        for pct in THRESHOLDS:
            if row["usage_to_date_usd"] * 100 < row["budget_usd"] * pct:
                continue
            inserted = conn.execute(
                """insert into billing.budget_alerts (customer_id, period, threshold_pct, budget_usd,
                       usage_to_date_usd, projected_usd)
                   values (%s, %s, %s, %s, %s, %s) on conflict do nothing returning alert_id""",
                (
                    row["customer_id"],
                    row["period"],
                    pct,
                    row["budget_usd"],
                    row["usage_to_date_usd"],
                    row["projected_usd"],
                ),
            ).fetchone()
            if inserted:
                new.append({**row, "threshold_pct": pct, "alert_id": inserted[0]})
    return new


def notify(conn: psycopg.Connection, alerts: list[dict], hook: str | None = None) -> int:
    """Hand each alert to the hook (argument, else ``HCP_BUDGET_ALERT_HOOK``) and mark it notified.
    Without a hook nothing is sent and alerts stay un-notified in the table. Returns alerts sent."""
    hook = hook if hook is not None else os.environ.get("HCP_BUDGET_ALERT_HOOK", "")
    if not hook or not alerts:
        return 0
    send = _webhook(hook) if hook.startswith(("http://", "https://")) else _callable(hook)
    for alert in alerts:
        send({k: str(v) for k, v in alert.items()})
        conn.execute(
            "update billing.budget_alerts set notified_at = now() where alert_id = %s", (alert["alert_id"],)
        )
    return len(alerts)


def _callable(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _webhook(url: str):
    def post(alert: dict) -> None:
        text = (
            f"Budget alert: {alert['customer_id']} reached {alert['threshold_pct']}% of its "
            f"{alert['period']} budget ({alert['usage_to_date_usd']} of {alert['budget_usd']} USD, "
            f"projected {alert['projected_usd']})"
        )
        body = json.dumps({"text": text, "alert": alert}).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10):
            pass

    return post
