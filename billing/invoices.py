"""The invoice workflow: draft -> finalized -> sent -> paid, and credit/debit notes.

- Drafts are rebuilt from current data until finalization.
- Finalization checks the grace period and the data-quality gate, then, in one transaction,
  allocates the next number of the series from a counter row locked FOR UPDATE (gapless: a
  rollback gives the number back), freezes the bill-to copy and writes an audit row. A trigger
  makes a finalized document immutable.
- Corrections (revised prices, late usage) are new documents referring to the original: a credit
  note when the customer is owed money, a debit note when they owe more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from billing.catalog import Catalog, ColocationContract, load_catalog
from billing.config import get_config
from billing.engine import (
    Line,
    PricedPeriod,
    UsageRow,
    energy_lines,
    hours,
    price_period,
    price_rows,
)
from billing.periods import parse_period, period_bounds
from billing.usage import (
    USAGE_MART,
    USAGE_PIECES,
    Span,
    events_watermark,
    load_energy,
    load_usage_rows,
    local_dates,
    usage_mart_watermark,
)
from core.audit import current_actor, write_audit
from kernels.billing import ZERO, Totals, apply_credits, invoice_totals


class InvoiceError(RuntimeError):
    """An invoice operation was refused; the message says which invoice and why."""


class DataQualityError(InvoiceError):
    """The inputs of a period fail their checks, so its invoices cannot be finalized."""


@dataclass(frozen=True)
class InvoiceSummary:
    invoice_id: int
    customer_id: str
    period: str
    kind: str
    status: str
    invoice_number: str | None
    subtotal_usd: Decimal
    discount_usd: Decimal
    credit_usd: Decimal
    tax_usd: Decimal
    total_usd: Decimal
    lines: int

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in vars(self).items()}


# --- pricing every customer of a period -------------------------------------------------------------


def price_customers(
    conn: psycopg.Connection, period: str, customers: list[str] | None = None, catalog: Catalog | None = None
) -> tuple[Catalog, dict[str, PricedPeriod]]:
    """Priced lines of every customer (or the given ones) for ``period``, from the usage mart
    (marts.fct_usage rows of the customer's local dates, lineage from their pieces)."""
    parse_period(period)
    analyze_if_never(conn)
    catalog = catalog or load_catalog(conn)
    wanted = sorted(customers or catalog.customers)
    bounds = {
        c: period_bounds(period, catalog.customers[c].timezone) for c in wanted if c in catalog.customers
    }
    if not bounds:
        return catalog, {}
    dates = {c: local_dates(start, end, catalog.customers[c].timezone) for c, (start, end) in bounds.items()}
    rows, problems = load_usage_rows(conn, catalog, dates)
    priced = {
        c: price_customer_rows(conn, catalog, c, rows.get(c, []), start, end, problems.get(c, []))
        for c, (start, end) in bounds.items()
    }
    return catalog, priced


def price_customer_rows(
    conn: psycopg.Connection,
    catalog: Catalog,
    customer_id: str,
    rows: list[UsageRow],
    start: datetime,
    end: datetime,
    problems: list[str] | None = None,
) -> PricedPeriod:
    """All lines of one customer for ``[start, end)``: GPU usage from usage ``rows`` (the mart)
    and, for colocation contracts in force at ``start``, metered rack energy."""
    priced = price_rows(customer_id, rows, catalog, start, end, problems)
    _add_energy(conn, catalog, customer_id, start, end, priced)
    return priced


def price_customer(
    conn: psycopg.Connection,
    catalog: Catalog,
    customer_id: str,
    spans: list[Span],
    start: datetime,
    end: datetime,
) -> PricedPeriod:
    """All lines of one customer for ``[start, end)`` metered from ``spans`` (the recomputation
    path, used by reconciliation and budgets) plus colocation energy."""
    priced = price_period(customer_id, spans, catalog, start, end)
    _add_energy(conn, catalog, customer_id, start, end, priced)
    return priced


def contract_windows(
    contracts: list[ColocationContract], customer_id: str, start: datetime, end: datetime
) -> list[tuple[ColocationContract, datetime, datetime]]:
    """Each colocation contract version of a customer with the part of ``[start, end)`` it is in
    force: the rows of one (facility, rack) are versions, each applies from its effective_from
    until the next one (never before it)."""
    racks: dict[tuple[str, str], list[ColocationContract]] = {}
    for contract in contracts:
        if contract.customer_id == customer_id:
            racks.setdefault((contract.facility_id, contract.rack), []).append(contract)
    windows = []
    for _, versions in sorted(racks.items()):
        versions.sort(key=lambda c: (c.effective_from, c.contract_id))
        for version, following in zip(versions, versions[1:] + [None], strict=True):
            lo = max(start, version.effective_from)
            hi = min(end, following.effective_from) if following else end
            if lo < hi:
                windows.append((version, lo, hi))
    return windows


def _add_energy(conn, catalog: Catalog, customer_id: str, start: datetime, end: datetime, priced) -> None:
    for contract, lo, hi in contract_windows(catalog.colocation, customer_id, start, end):
        lines, problems = energy_lines(
            contract, load_energy(conn, contract.facility_id, contract.rack, lo, hi)
        )
        priced.lines.extend(lines)
        priced.problems.extend(problems)


_READ_TABLES = tuple(
    f"raw.{t}"
    for t in ("workload_events", "device_telemetry", "devices", "energy_prices", "rate_cards", "customers")
) + (USAGE_MART, USAGE_PIECES)


def analyze_if_never(conn: psycopg.Connection) -> None:
    """ANALYZE the tables billing reads if they never were: right after a bulk load or a dbt build,
    before autovacuum gets to them, the planner has no statistics and picks plans 10-30x slower."""
    stale = conn.execute(
        """select schemaname, relname from pg_stat_user_tables
           where schemaname || '.' || relname = any(%s)
             and last_analyze is null and last_autoanalyze is null and n_live_tup > 0""",
        (list(_READ_TABLES),),
    ).fetchall()
    for schema, table in stale:
        conn.execute(f'analyze "{schema}"."{table}"')


def period_problems(
    conn: psycopg.Connection, period: str, customer_id: str, priced: PricedPeriod
) -> list[str]:
    """Data-quality checks on a customer's period inputs: every piece priced, usage complete."""
    problems = list(priced.problems)
    tz = conn.execute(
        "select timezone from staging.stg_raw__customers where customer_id = %s",
        (customer_id,),
    ).fetchone()
    _, end = period_bounds(period, tz[0] if tz else "UTC")
    watermark = usage_watermark(conn)
    slack = timedelta(minutes=int(get_config().completeness_slack_minutes))
    if watermark is None or watermark + slack < end:
        problems.append(
            f"usage incomplete: data reaches {watermark.isoformat() if watermark else 'nothing'}, "
            f"the period ends {end.isoformat()}"
        )
    events = events_watermark(conn)
    built = usage_mart_watermark(conn)
    if events is not None and (built is None or built < events):
        problems.append(
            f"usage mart is stale: marts.fct_usage saw data up to {built.isoformat() if built else 'nothing'}, "
            f"workload events reach {events.isoformat()}: rebuild it (dbt run --select +fct_usage)"
        )
    return problems


def usage_watermark(conn: psycopg.Connection) -> datetime | None:
    """How far usage data reaches: the newest workload event or telemetry sample."""
    events = events_watermark(conn)
    telemetry = conn.execute("select max(ts) from raw.device_telemetry").fetchone()[0]
    known = [t for t in (events, telemetry) if t is not None]
    return max(known) if known else None


# --- drafts ------------------------------------------------------------------------------------------


def _credit_balances(
    conn: psycopg.Connection, customer_id: str, start: datetime, end: datetime, invoice_id=None
):
    return conn.execute(
        """select c.credit_id, c.amount_usd - coalesce(sum(a.amount_usd)
                   filter (where a.invoice_id is distinct from %(inv)s), 0)
           from billing.credits c
           left join billing.credit_applications a using (credit_id)
           where c.customer_id = %(cid)s and c.granted_at < %(end)s
             and (c.expires_at is null or c.expires_at > %(start)s)
           group by c.credit_id, c.amount_usd, c.expires_at, c.granted_at
           order by c.expires_at nulls last, c.granted_at, c.credit_id""",
        {"cid": customer_id, "start": start, "end": end, "inv": invoice_id},
    ).fetchall()


def totals_for(catalog: Catalog, customer_id: str, start: datetime, lines: list[Line], credit=ZERO) -> Totals:
    """Invoice totals of ``lines`` with the customer's discount and tax rate in force at ``start``."""
    customer = catalog.customers[customer_id]
    return invoice_totals(
        [line.amount for line in lines], catalog.discount_pct(customer_id, start), customer.tax_rate, credit
    )


# The pieces behind each allotment (engine.Allotment: a stretch of a usage row's billable seconds):
# a row's pieces fill its billable seconds one after the other in piece order (start, then span),
# and each piece links to every allotment its own stretch overlaps, for the overlapping seconds.
# One statement in the database, so the pieces never travel through Python (engine.piece_lineage
# is the same rule in Python).
LINEAGE_SQL = """
insert into billing.invoice_line_usage (line_id, workload_id, span_id, started_at, ended_at, gpus,
    gpu_seconds, billable_seconds, rate_usd_per_gpu_hour)
select a.line_id, p.workload_id, p.session_id, p.piece_start_at, p.piece_end_at, 1, p.gpu_seconds,
       least(p.filled_to, a.offset_to) - greatest(p.filled_to - p.billable_gpu_seconds, a.offset_from),
       a.rate
from pg_temp.line_allotments a
join (
    select usage_id, workload_id, session_id, piece_start_at, piece_end_at, gpu_seconds, billable_gpu_seconds,
           sum(billable_gpu_seconds) over (
               partition by usage_id order by piece_start_at, session_id rows unbounded preceding
           ) as filled_to
    from intermediate.int_workload_usage_billable
    where usage_id in (select usage_id from pg_temp.line_allotments)
) p on p.usage_id = a.usage_id
where p.filled_to - p.billable_gpu_seconds < a.offset_to and p.filled_to > a.offset_from
"""


def _insert_lines(conn: psycopg.Connection, invoice_id: int, lines: list[Line]) -> list[tuple]:
    """Insert ``lines``; returns their lineage as (line_id, usage_id, from, to, rate) stretches
    for :func:`_insert_lineage`."""
    stretches = []
    for no, line in enumerate(lines, start=1):
        line_id = conn.execute(
            """insert into billing.invoice_lines (invoice_id, line_no, line_kind, description, gpu_model,
                   gpu_pool, workload_type, quantity, unit, unit_price_usd, amount_usd, rate_card_id,
                   plan_id, commitment_id)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning line_id""",
            (
                invoice_id,
                no,
                line.line_kind,
                line.description,
                line.gpu_model,
                line.gpu_pool,
                line.workload_type,
                line.quantity,
                line.unit,
                line.unit_price,
                line.amount,
                line.rate_card_id,
                line.plan_id,
                line.commitment_id,
            ),
        ).fetchone()[0]
        stretches.extend(
            (line_id, a.row.usage_id, a.offset, a.offset + a.seconds, a.rate) for a in line.usage
        )
    return stretches


def _insert_lineage(conn: psycopg.Connection, stretches: list[tuple]) -> None:
    """Link lines to the usage pieces behind them (:data:`LINEAGE_SQL`)."""
    if not stretches:
        return
    conn.execute(
        """create temp table if not exists line_allotments (line_id bigint, usage_id text,
               offset_from bigint, offset_to bigint, rate numeric)"""
    )
    conn.execute("truncate pg_temp.line_allotments")
    with conn.cursor().copy(
        "copy pg_temp.line_allotments (line_id, usage_id, offset_from, offset_to, rate) from stdin"
    ) as copy:
        for row in stretches:
            copy.write_row(row)
    conn.execute("analyze pg_temp.line_allotments")
    conn.execute(LINEAGE_SQL)
    conn.execute("truncate pg_temp.line_allotments")


def build_drafts(
    conn: psycopg.Connection, period: str, customers: list[str] | None = None
) -> list[InvoiceSummary]:
    """(Re)build the draft invoice of every customer with charges in ``period``; finalized invoices
    are left alone. Returns the drafts written. Runs in one transaction."""
    with conn.transaction():
        catalog, priced = price_customers(conn, period, customers)
        written, stretches = [], []
        for customer_id, result in sorted(priced.items()):
            existing = conn.execute(
                """select invoice_id, status from billing.invoices
                   where customer_id = %s and period = %s and kind = 'invoice' for update""",
                (customer_id, period),
            ).fetchone()
            if existing and existing[1] != "draft":
                continue
            if existing:
                conn.execute("delete from billing.invoices where invoice_id = %s", (existing[0],))
            if not result.lines:
                continue
            summary, lineage = _write_draft(conn, catalog, period, customer_id, result.lines)
            written.append(summary)
            stretches.extend(lineage)
        _insert_lineage(conn, stretches)
        return written


def _write_draft(
    conn, catalog: Catalog, period: str, customer_id: str, lines: list[Line]
) -> tuple[InvoiceSummary, list[tuple]]:
    """Insert one draft and its lines; returns its summary and its lines' lineage stretches."""
    customer = catalog.customers[customer_id]
    start, end = period_bounds(period, customer.timezone)
    gross = totals_for(catalog, customer_id, start, lines).gross
    # Lock the customer's credits before reading their balances: a concurrent draft (another period)
    # waits here and then sees this one's applications, so a credit is never spent twice.
    conn.execute(
        "select credit_id from billing.credits where customer_id = %s order by credit_id for update",
        (customer_id,),
    )
    used = apply_credits(gross, [(c, Decimal(r)) for c, r in _credit_balances(conn, customer_id, start, end)])
    totals = totals_for(catalog, customer_id, start, lines, sum((a for _, a in used), ZERO))
    invoice_id = conn.execute(
        """insert into billing.invoices (customer_id, period, period_start, period_end, timezone,
               subtotal_usd, discount_usd, credit_usd, tax_rate, tax_usd, total_usd)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning invoice_id""",
        (
            customer_id,
            period,
            start,
            end,
            customer.timezone,
            totals.subtotal,
            totals.discount,
            totals.credit,
            customer.tax_rate,
            totals.tax,
            totals.total,
        ),
    ).fetchone()[0]
    stretches = _insert_lines(conn, invoice_id, lines)
    for credit_id, amount in used:
        conn.execute(
            "insert into billing.credit_applications (credit_id, invoice_id, amount_usd) values (%s, %s, %s)",
            (credit_id, invoice_id, amount),
        )
    return InvoiceSummary(
        invoice_id,
        customer_id,
        period,
        "invoice",
        "draft",
        None,
        totals.subtotal,
        totals.discount,
        totals.credit,
        totals.tax,
        totals.total,
        len(lines),
    ), stretches


# --- finalization --------------------------------------------------------------------------------------


def _bill_to(conn: psycopg.Connection, customer_id: str) -> tuple[bytes | None, str | None]:
    """The frozen copy of what an invoice must show (name, billing address, tax id), encrypted."""
    from billing.customers import frozen_bill_to

    return frozen_bill_to(conn, customer_id)


def _stale(conn, catalog: Catalog, invoice_id: int, customer_id: str, priced: PricedPeriod) -> list[str]:
    """A draft whose amounts differ from a fresh pricing of current data must be rebuilt first."""
    start = conn.execute("select period_start from billing.invoices where invoice_id = %s", (invoice_id,))
    fresh = totals_for(catalog, customer_id, start.fetchone()[0], priced.lines)
    stored = conn.execute(
        "select subtotal_usd, discount_usd, tax_usd from billing.invoices where invoice_id = %s",
        (invoice_id,),
    ).fetchone()
    if tuple(stored) != (fresh.subtotal, fresh.discount, fresh.tax):
        return [f"draft is stale (subtotal {stored[0]}, current data gives {fresh.subtotal}): rebuild it"]
    return []


def finalize_invoice(
    conn: psycopg.Connection,
    invoice_id: int,
    now: datetime | None = None,
    actor: str | None = None,
    check_inputs: bool = True,
) -> str:
    """Finalize one draft: grace period and data-quality gate, then the next gapless number.
    Returns the number. Raises InvoiceError / DataQualityError and leaves the draft unchanged."""
    now = now or datetime.now(UTC)
    config = get_config()
    with conn.transaction():
        row = conn.execute(
            """select customer_id, period, period_end, status, kind, total_usd from billing.invoices
               where invoice_id = %s for update""",
            (invoice_id,),
        ).fetchone()
        if row is None:
            raise InvoiceError(f"invoice {invoice_id} does not exist")
        customer_id, period, period_end, status, kind, total = row
        if status != "draft":
            raise InvoiceError(f"invoice {invoice_id} is already {status}")
        if kind == "invoice":
            ready_at = period_end + timedelta(hours=config.grace_hours)
            if now < ready_at:
                raise InvoiceError(
                    f"invoice {invoice_id} ({customer_id} {period}) is in its grace period until "
                    f"{ready_at.isoformat()}: late data may still arrive"
                )
            if check_inputs:
                catalog, priced = price_customers(conn, period, [customer_id])
                problems = period_problems(conn, period, customer_id, priced[customer_id])
                problems += _stale(conn, catalog, invoice_id, customer_id, priced[customer_id])
                if problems:
                    raise DataQualityError(
                        f"invoice {invoice_id} ({customer_id} {period}) cannot be finalized: "
                        + "; ".join(problems[:5])
                        + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
                    )
        series = "CN" if kind == "credit_note" else "INV"
        # The counter row lock serializes finalizations of a series; a rollback releases the number.
        number = conn.execute(
            "select next_number from billing.invoice_counters where series = %s for update", (series,)
        ).fetchone()[0]
        conn.execute(
            "update billing.invoice_counters set next_number = next_number + 1 where series = %s", (series,)
        )
        invoice_number = f"{series}-{number:06d}"
        bill_to, key_id = _bill_to(conn, customer_id)
        conn.execute(
            """update billing.invoices set status = 'finalized', invoice_number = %s, issued_at = %s,
                   due_at = %s, finalized_at = %s, finalized_by = %s, bill_to_encrypted = %s,
                   bill_to_key_id = %s
               where invoice_id = %s""",
            (
                invoice_number,
                now,
                now + timedelta(days=config.net_days),
                now,
                actor or current_actor(),
                bill_to,
                key_id,
                invoice_id,
            ),
        )
        write_audit(
            conn,
            "invoice.finalize",
            f"billing.invoices/{invoice_id}",
            {"status": "draft"},
            {"status": "finalized", "invoice_number": invoice_number, "total_usd": total, "kind": kind},
            actor,
        )
    return invoice_number


def finalize_period(
    conn: psycopg.Connection,
    period: str,
    customers: list[str] | None = None,
    now: datetime | None = None,
    actor: str | None = None,
) -> dict:
    """Rebuild the period's drafts from current data and finalize each that passes its checks.
    Returns ``{"finalized": [numbers], "refused": [messages]}``."""
    build_drafts(conn, period, customers)
    drafts = conn.execute(
        """select invoice_id from billing.invoices
           where period = %s and status = 'draft' and kind = 'invoice'
             and (%s::text[] is null or customer_id = any(%s::text[]))
           order by customer_id""",
        (period, customers, customers),
    ).fetchall()
    done, refused = [], []
    for (invoice_id,) in drafts:
        try:
            done.append(finalize_invoice(conn, invoice_id, now=now, actor=actor))
        except InvoiceError as err:
            refused.append(str(err))
    return {"finalized": done, "refused": refused}


def set_status(conn: psycopg.Connection, invoice_id: int, status: str, actor: str | None = None) -> None:
    """Move a finalized document to ``sent`` or ``paid`` (the trigger refuses anything else)."""
    column = {"sent": "sent_at", "paid": "paid_at"}.get(status)
    if column is None:
        raise InvoiceError(f"status {status!r}: only 'sent' or 'paid' can be set")
    with conn.transaction():
        before = conn.execute(
            "select status from billing.invoices where invoice_id = %s for update", (invoice_id,)
        ).fetchone()
        if before is None:
            raise InvoiceError(f"invoice {invoice_id} does not exist")
        conn.execute(
            f"update billing.invoices set status = %s, {column} = now() where invoice_id = %s",
            (status, invoice_id),
        )
        write_audit(
            conn,
            f"invoice.{status}",
            f"billing.invoices/{invoice_id}",
            {"status": before[0]},
            {"status": status},
            actor,
        )


# --- corrections -----------------------------------------------------------------------------------------


def _line_key(kind, model, wtype, card, plan, commitment) -> tuple:
    return (kind, model or "", wtype or "", card or "", plan or "", commitment or "")


def billed_so_far(conn: psycopg.Connection, customer_id: str, period: str) -> dict:
    """What the finalized documents of a customer's period already bill: per line key the quantity
    and amount, and the summed subtotal, discount and tax."""
    lines: dict[tuple, list[Decimal]] = {}
    for row in conn.execute(
        """select l.line_kind, l.gpu_model, l.workload_type, l.rate_card_id, l.plan_id, l.commitment_id,
                  l.quantity, l.amount_usd, l.description, l.unit, l.unit_price_usd
           from billing.invoice_lines l join billing.invoices i using (invoice_id)
           where i.customer_id = %s and i.period = %s and i.status <> 'draft'""",
        (customer_id, period),
    ):
        entry = lines.setdefault(_line_key(*row[:6]), [ZERO, ZERO, row[8], row[9], row[10]])
        entry[0] += row[6]
        entry[1] += row[7]
    sums = conn.execute(
        """select coalesce(sum(subtotal_usd), 0), coalesce(sum(discount_usd), 0), coalesce(sum(tax_usd), 0)
           from billing.invoices where customer_id = %s and period = %s and status <> 'draft'""",
        (customer_id, period),
    ).fetchone()
    return {"lines": lines, "subtotal": sums[0], "discount": sums[1], "tax": sums[2]}


def correct_invoice(
    conn: psycopg.Connection,
    invoice_id: int,
    reason: str,
    now: datetime | None = None,
    actor: str | None = None,
) -> str | None:
    """Issue a credit note (or debit note) for what changed since ``invoice_id`` was finalized:
    the difference, per line and in total, between a fresh pricing of its period and everything
    already billed for it. Returns the new document's number, or None when nothing changed.

    One transaction that starts by locking the original invoice: a concurrent correction waits, then
    reads what is billed including this one's (finalized) note, and issues nothing more."""
    with conn.transaction():
        return _correct_locked(conn, invoice_id, reason, now, actor)


def _correct_locked(
    conn, invoice_id: int, reason: str, now: datetime | None, actor: str | None
) -> str | None:
    row = conn.execute(
        "select customer_id, period, status, kind from billing.invoices where invoice_id = %s for update",
        (invoice_id,),
    ).fetchone()
    if row is None:
        raise InvoiceError(f"invoice {invoice_id} does not exist")
    customer_id, period, status, kind = row
    if status == "draft" or kind != "invoice":
        raise InvoiceError(
            f"invoice {invoice_id} is a {status} {kind}: only finalized invoices are corrected"
        )
    catalog, priced = price_customers(conn, period, [customer_id])
    customer = catalog.customers[customer_id]
    start, end = period_bounds(period, customer.timezone)
    fresh = priced[customer_id].lines
    new_totals = totals_for(catalog, customer_id, start, fresh)
    billed = billed_so_far(conn, customer_id, period)
    fresh_by_key: dict[tuple, list] = {}
    for line in fresh:
        key = _line_key(
            line.line_kind,
            line.gpu_model,
            line.workload_type,
            line.rate_card_id,
            line.plan_id,
            line.commitment_id,
        )
        entry = fresh_by_key.setdefault(key, [ZERO, ZERO, line])
        entry[0] += line.quantity
        entry[1] += line.amount
    diffs = []
    for key in sorted(set(fresh_by_key) | set(billed["lines"])):
        new_q, new_a, template = fresh_by_key.get(key, [ZERO, ZERO, None])
        old_q, old_a, description, unit, unit_price = billed["lines"].get(
            key, [ZERO, ZERO, None, "GPU-hour", ZERO]
        )
        if new_a == old_a and new_q == old_q:
            continue
        base = template.description if template else description
        diffs.append(
            Line(
                key[0],
                f"Correction: {base}",
                new_q - old_q,
                template.unit if template else unit,
                template.unit_price if template else unit_price,
                new_a - old_a,
                gpu_model=key[1] or None,
                workload_type=key[2] or None,
                rate_card_id=key[3] or None,
                plan_id=key[4] or None,
                commitment_id=key[5] or None,
                gpu_pool=template.gpu_pool if template else None,
            )
        )
    subtotal = new_totals.subtotal - billed["subtotal"]
    discount = new_totals.discount - billed["discount"]
    tax = new_totals.tax - billed["tax"]
    if not diffs and subtotal == discount == tax == ZERO:
        return None
    total = subtotal - discount + tax
    note_kind = "credit_note" if total < 0 else "debit_note"
    with conn.transaction():
        note_id = conn.execute(
            """insert into billing.invoices (kind, refers_to, customer_id, period, period_start, period_end,
                   timezone, subtotal_usd, discount_usd, credit_usd, tax_rate, tax_usd, total_usd, reason)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s, %s, %s) returning invoice_id""",
            (
                note_kind,
                invoice_id,
                customer_id,
                period,
                start,
                end,
                customer.timezone,
                subtotal,
                discount,
                customer.tax_rate,
                tax,
                total,
                reason,
            ),
        ).fetchone()[0]
        _insert_lineage(conn, _insert_lines(conn, note_id, diffs))
        write_audit(
            conn,
            f"invoice.{note_kind}",
            f"billing.invoices/{note_id}",
            None,
            {"refers_to": invoice_id, "total_usd": total, "reason": reason},
            actor,
        )
    return finalize_invoice(conn, note_id, now=now, actor=actor, check_inputs=False)


def list_invoices(conn: psycopg.Connection, period: str | None = None) -> list[InvoiceSummary]:
    """Every document (or those of one period), ordered by period, customer and id."""
    rows = conn.execute(
        """select i.invoice_id, i.customer_id, i.period, i.kind, i.status, i.invoice_number, i.subtotal_usd,
                  i.discount_usd, i.credit_usd, i.tax_usd, i.total_usd,
                  (select count(*) from billing.invoice_lines l where l.invoice_id = i.invoice_id)
           from billing.invoices i where %s::text is null or i.period = %s
           order by i.period, i.customer_id, i.invoice_id""",
        (period, period),
    ).fetchall()
    return [InvoiceSummary(*row) for row in rows]


__all__ = [
    "DataQualityError",
    "InvoiceError",
    "InvoiceSummary",
    "build_drafts",
    "correct_invoice",
    "finalize_invoice",
    "finalize_period",
    "hours",
    "list_invoices",
    "set_status",
]
