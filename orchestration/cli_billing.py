"""``hcp billing ...`` and ``hcp bench billing``: invoices, finalization, corrections, reports,
reconciliation, Stripe sync, budgets, customer PII requests, and the billing benchmark."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

billing_app = typer.Typer(
    help="Billing: invoices, credit notes, reports, reconciliation, Stripe, budgets.", no_args_is_help=True
)
pii_app = typer.Typer(help="Customer PII requests: export, erase, key rotation.", no_args_is_help=True)
billing_app.add_typer(pii_app, name="pii")

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object instead of text")]
PeriodOpt = Annotated[str, typer.Option("--period", help="billing month YYYY-MM (customer time zone)")]


def _cli():
    from orchestration import terminal as cli  # the shared helpers: fail, emit_json, console, ready_database

    return cli


def _connect():
    import psycopg

    url = _cli().ready_database()
    return psycopg.connect(url, autocommit=True)


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _cli().fail(f"{value!r} is not an ISO date or timestamp")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _out(payload: dict, as_json: bool, text: str) -> None:
    if as_json:
        _cli().emit_json(payload)
    else:
        typer.echo(text)


def _refresh_usage() -> None:
    from billing.usage import refresh_usage_marts

    try:
        refresh_usage_marts(_cli().ready_database())
    except RuntimeError as err:
        _cli().fail(str(err))


@billing_app.command("seed")
def seed(as_json: JsonFlag = False) -> None:
    """Seed default budgets, tiered plans, a commitment, credits, a discount and colocation contracts."""
    from billing.seed import seed_defaults

    with _connect() as conn:
        added = seed_defaults(conn)
    _out({"added": added}, as_json, "seeded: " + ", ".join(f"{k} {v}" for k, v in sorted(added.items())))


@billing_app.command("invoices")
def invoices(
    period: PeriodOpt,
    build: Annotated[bool, typer.Option(help="(re)build drafts from current data first")] = True,
    refresh_usage: Annotated[
        bool,
        typer.Option("--refresh-usage", help="rebuild marts.fct_usage with dbt first (invoices read it)"),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Build the period's draft invoices from marts.fct_usage (finalized ones are never touched) and
    list every document."""
    from billing import invoices as inv

    with _connect() as conn:
        if refresh_usage:
            _refresh_usage()
        try:
            if build:
                inv.build_drafts(conn, period)
            docs = inv.list_invoices(conn, period)
        except ValueError as err:
            _cli().fail(str(err))
    rows = [d.to_dict() for d in docs]
    text = (
        "\n".join(
            f"{d.invoice_number or '(draft ' + str(d.invoice_id) + ')':>16} {d.kind:<11} {d.customer_id:<10} "
            f"{d.status:<9} lines {d.lines:>3}  subtotal {d.subtotal_usd:>12}  tax {d.tax_usd:>9}  total {d.total_usd:>12}"
            for d in docs
        )
        or f"no invoices for {period}"
    )
    _out({"period": period, "invoices": rows}, as_json, text)


@billing_app.command("finalize")
def finalize(
    period: PeriodOpt,
    customer: Annotated[list[str] | None, typer.Option(help="only these customers")] = None,
    now: Annotated[str | None, typer.Option(help="pretend it is this time (grace period checks)")] = None,
    refresh_usage: Annotated[
        bool,
        typer.Option("--refresh-usage", help="rebuild marts.fct_usage with dbt first (invoices read it)"),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Rebuild drafts, then finalize each invoice that is past its grace period and passes the checks."""
    from billing import invoices as inv

    with _connect() as conn:
        if refresh_usage:
            _refresh_usage()
        result = inv.finalize_period(conn, period, customer, now=_when(now))
    text = f"finalized {len(result['finalized'])}: {' '.join(result['finalized'])}"
    if result["refused"]:
        text += "\nrefused:\n  " + "\n  ".join(result["refused"])
    _out(result, as_json, text)


@billing_app.command("correct")
def correct(
    invoice_id: int,
    reason: Annotated[str, typer.Option(help="why: e.g. 'ISO price revision', 'late usage'")],
    as_json: JsonFlag = False,
) -> None:
    """Issue a credit or debit note for what changed since a finalized invoice was issued."""
    from billing import invoices as inv

    with _connect() as conn:
        try:
            number = inv.correct_invoice(conn, invoice_id, reason)
        except inv.InvoiceError as err:
            _cli().fail(str(err))
    _out({"note": number}, as_json, f"issued {number}" if number else "nothing changed: no note issued")


@billing_app.command("status")
def status(invoice_id: int, new_status: Annotated[str, typer.Argument(help="sent or paid")]) -> None:
    """Mark a finalized invoice sent or paid."""
    from billing import invoices as inv

    with _connect() as conn:
        try:
            inv.set_status(conn, invoice_id, new_status)
        except inv.InvoiceError as err:
            _cli().fail(str(err))
    typer.echo(f"invoice {invoice_id}: {new_status}")


@billing_app.command("report")
def report(
    period: PeriodOpt,
    out: Annotated[
        Path | None, typer.Option(help="folder (default $HCP_HOME/reports/billing/<period>)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """PDF and CSV per finalized invoice, and the period's finance summary (CSV and PDF)."""
    from billing.reports import write_period_reports

    with _connect() as conn:
        result = write_period_reports(conn, period, out)
    summary = result["summary"]
    text = (
        f"{len(result['paths'])} files in {Path(result['paths'][-1]).parent}\n"
        f"totals: {summary['totals']}\nreceivables ageing: {summary['receivables_ageing']}"
    )
    _out(result, as_json, text)


@billing_app.command("reconcile")
def reconcile_cmd(
    period: Annotated[str | None, typer.Option("--period", help="one month; default every invoice")] = None,
    marts: Annotated[
        bool, typer.Option("--marts", help="also compare GPU-seconds with marts.fct_usage (needs --period)")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Recompute every invoice from raw workload events, telemetry and prices and compare to the cent;
    exit 1 on differences."""
    from billing.reconcile import marts_crosscheck, reconcile

    if marts and not period:
        _cli().fail("--marts compares one month: add --period YYYY-MM")
    with _connect() as conn:
        result = reconcile(conn, period)
        if marts:
            result["marts"] = marts_crosscheck(conn, period)
            result["differences"] = result["differences"] + result["marts"]["differences"]
    lines = [
        f"checked {result['checked']} documents ({result['customer_periods']} customer-months, "
        f"{result['energy_lines']} colocation energy lines): {len(result['differences'])} differences"
    ]
    lines += [
        f"  {d['customer_id']} {d['period']} {d['field']}: expected {d['expected']}, invoiced {d['actual']}"
        for d in result["differences"]
    ]
    _out(result, as_json, "\n".join(lines))
    if result["differences"]:
        raise typer.Exit(1)


@billing_app.command("stripe-sync")
def stripe_sync(
    period: Annotated[str | None, typer.Option("--period")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Push finalized invoices, debit notes and credit notes to Stripe (STRIPE_API_KEY); without a key,
    a dry run written to a file."""
    import os

    from billing.stripe_sync import StripeSyncError, gateway_for, sync_period

    gateway = gateway_for(os.environ.get("STRIPE_API_KEY"), os.environ.get("STRIPE_API_BASE"))
    with _connect() as conn:
        try:
            results = sync_period(conn, period, gateway)
        except StripeSyncError as err:
            _cli().fail(str(err))
    where = getattr(gateway, "path", None)
    notes = sum(1 for r in results if r.get("kind") == "credit_note")
    text = f"{len(results) - notes} invoices, {notes} credit notes " + (
        f"(dry run: {where})" if where else "pushed"
    )
    _out({"results": results, "dry_run_file": str(where) if where else None}, as_json, text)


@billing_app.command("budgets")
def budgets(
    as_of: Annotated[str | None, typer.Option(help="evaluate at this time (default now)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Usage to date and month-end projection per budget; raise alerts at 50/80/100 %."""
    from billing.budgets import budget_status, evaluate_budgets, notify

    with _connect() as conn:
        when = _when(as_of)
        rows = budget_status(conn, when)
        alerts = evaluate_budgets(conn, when)
        sent = notify(conn, alerts)
    text = (
        "\n".join(
            f"{r['customer_id']:<10} {r['period']} budget {r['budget_usd']:>10} to date {r['usage_to_date_usd']:>10} "
            f"projected {r['projected_usd']:>10}"
            for r in rows
        )
        + f"\nnew alerts: {len(alerts)} (notified {sent})"
    )
    _out({"budgets": rows, "new_alerts": alerts, "notified": sent}, as_json, text)


@billing_app.command("budget-set")
def budget_set(
    customer: str,
    monthly_usd: str,
    since: Annotated[str | None, typer.Option("--from", help="effective from (default now)")] = None,
) -> None:
    """Set a customer's monthly budget from a date (a new version; audited)."""
    from billing.budgets import set_budget

    try:
        amount = Decimal(monthly_usd)
    except InvalidOperation:
        _cli().fail(f"{monthly_usd!r} is not an amount")
    with _connect() as conn:
        set_budget(conn, customer, amount, _when(since) or datetime.now(UTC))
    typer.echo(f"budget of {customer}: {amount} USD/month")


@pii_app.command("export")
def pii_export(
    customer: str, out: Annotated[Path | None, typer.Option(help="write JSON here")] = None
) -> None:
    """Everything held about a customer, PII decrypted (data-subject access request)."""
    import json

    from billing.customers import PiiError, export_customer

    with _connect() as conn:
        try:
            payload = export_customer(conn, customer)
        except PiiError as err:
            _cli().fail(str(err))
    text = json.dumps(payload, indent=2, default=str)
    if out:
        from core.files import write_private

        write_private(out, text)  # a PII export: owner-readable only
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)


@pii_app.command("erase")
def pii_erase(customer: str, yes: Annotated[bool, typer.Option("--yes", help="confirm")] = False) -> None:
    """Erase a customer's PII; finalized invoices keep their own frozen bill-to copy."""
    from billing.customers import PiiError, erase_customer

    if not yes:
        _cli().fail("erasure cannot be undone: add --yes")
    with _connect() as conn:
        try:
            rows = erase_customer(conn, customer)
        except PiiError as err:
            _cli().fail(str(err))
    typer.echo(f"erased PII of {customer} ({rows} records)")


@pii_app.command("rotate-key")
def pii_rotate(as_json: JsonFlag = False) -> None:
    """Re-encrypt all PII under HCP_PII_KEY (old keys in HCP_PII_OLD_KEYS, comma-separated)."""
    from billing.customers import rotate_key

    with _connect() as conn:
        counts = rotate_key(conn)
    _out(
        counts, as_json, f"re-encrypted {counts['customers']} customer records, {counts['invoices']} invoices"
    )


def bench_billing(
    customers: Annotated[int, typer.Option(help="customers at 1x")] = 10,
    workloads: Annotated[int, typer.Option(help="workloads per customer at 1x")] = 300,
    as_json: JsonFlag = False,
) -> None:
    """Invoice generation for a month: default fleet vs 10x customers and workloads, side by side."""
    from benchmarks.billing import format_table, run_benchmark

    cli = _cli()
    url = cli.ready_database()
    result = run_benchmark(
        url,
        customers=customers,
        workloads=workloads,
        progress=lambda text: cli.console.print(f"[cyan]>[/] {text}"),
    )
    _out(result, as_json, format_table(result))


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``hcp billing`` and ``hcp bench billing`` to the CLI."""
    app.add_typer(billing_app, name="billing")
    bench_app.command("billing")(bench_billing)
