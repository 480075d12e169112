"""Reconciliation: recompute every invoice from the raw workload events, independently of the
invoice builder (which reads marts.fct_usage built by dbt), and compare to the cent.

Spans are rebuilt here in Python, event by event, with the rules written in
:mod:`billing.usage` (the same as dbt's int_workload_sessions_built), then metered in
Python with the one metering rule (:func:`billing.engine.meter`: per device,
customer-local day and rate-card version, rounded up once) and priced with the same kernel rules
(they are the contract). Nothing here reads the marts.
Colocation energy is recomputed in pandas from raw telemetry, raw real-time prices and the contract
versions (:mod:`billing.reconcile_energy`), not with the builder's SQL.
For each (customer, period) that has documents, the sums of subtotal, discount and tax over its
invoice and notes must equal the recomputation, as must the summed amount of each energy line
(``energy``/``energy_adder`` per contract version); and each document must be internally consistent
(lines sum to the subtotal; total = subtotal - discount + tax - credit).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg import sql

from billing.catalog import load_catalog
from billing.engine import Line, price_period
from billing.invoices import totals_for
from billing.periods import period_bounds
from billing.reconcile_energy import energy_lines
from billing.records import Span
from billing.usage import local_dates

_OPEN = {"started", "resumed"}
_TERMINAL = {"completed", "cancelled", "failed"}
_RANK = {"started": 1, "paused": 2, "resumed": 3}


@dataclass(frozen=True)
class Difference:
    customer_id: str
    period: str
    field: str
    expected: Decimal
    actual: Decimal

    def to_dict(self) -> dict:
        return {k: str(v) for k, v in vars(self).items()}


def spans_from_events(conn: psycopg.Connection) -> dict[str, list[Span]]:
    """Every workload span, per customer, rebuilt in Python from raw.workload_events."""
    latest: dict[str, tuple] = {}
    watermark = None  # the newest event time over every stored row, superseded versions included
    for row in conn.execute(
        """select event_id, load_id, workload_id, customer_id, event_type, event_at, workload_type,
                  gpu_pool, device_ids from raw.workload_events"""
    ):
        if row[0] not in latest or row[1] > latest[row[0]][1]:
            latest[row[0]] = row
        if watermark is None or row[5] > watermark:
            watermark = row[5]
    devices = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            """select distinct on (device_id) device_id, gpu_pool, model from raw.devices
               order by device_id, load_id desc"""
        )
    }
    by_workload: dict[str, list[tuple]] = defaultdict(list)
    for row in latest.values():
        event_at = row[5].replace(microsecond=0)
        by_workload[row[2]].append((event_at, row[4], row[0], row[3], row[6], row[7] or None, row[8] or []))
    watermark = watermark.replace(microsecond=0) if watermark else None
    spans: dict[str, list[Span]] = defaultdict(list)
    for workload_id, events in by_workload.items():
        for span in _workload_spans(workload_id, events, watermark, devices):
            spans[span.customer_id].append(span)
    for customer_spans in spans.values():
        customer_spans.sort(key=lambda s: (s.started_at, s.workload_id, s.span_id))
    return spans


def _workload_spans(workload_id: str, events: list[tuple], watermark: datetime, devices: dict) -> list[Span]:
    customer = max(e[3] for e in events)
    wtype = max((e[4] for e in events if e[4] is not None), default=None)
    pool = max((e[5] for e in events if e[5] is not None), default=None)
    terminal = min((e[0] for e in events if e[1] in _TERMINAL), default=None)
    ordered = sorted(
        (e for e in events if e[1] != "submitted" and (terminal is None or e[0] <= terminal)),
        key=lambda e: (e[0], _RANK.get(e[1], 4), e[2]),
    )
    placements = sorted((e for e in events if e[1] in _OPEN and e[6]), key=lambda e: (e[0], e[2]))
    first_devices = placements[0][6] if placements else []
    spans, open_event = [], None

    def close(end: datetime) -> None:
        used = open_event[6] or first_devices
        device = devices.get(used[0]) if used else None
        spans.append(
            Span(
                workload_id,
                open_event[2],
                customer,
                wtype,
                pool or (device[0] if device else None),
                device[1] if device else None,
                open_event[0],
                end,
                len(used),
            )
        )

    for event in ordered:
        if event[1] in _OPEN:
            if open_event is None:
                open_event = event
        elif open_event is not None:
            close(event[0])
            open_event = None
    if open_event is not None:
        close(watermark)
    return spans


def reconcile(conn: psycopg.Connection, period: str | None = None) -> dict:
    """Check every document (or one period's). Returns ``{"checked": documents, "periods": months,
    "customer_periods": n, "energy_lines": recomputed energy lines, "differences": [...]}``; no
    differences means every invoice matches."""
    docs = conn.execute(
        """select invoice_id, customer_id, period, subtotal_usd, discount_usd, tax_usd, credit_usd, total_usd,
                  coalesce((select sum(amount_usd) from billing.invoice_lines l
                            where l.invoice_id = i.invoice_id), 0)
           from billing.invoices i where %s::text is null or period = %s order by invoice_id""",
        (period, period),
    ).fetchall()
    differences: list[Difference] = []
    billed: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for invoice_id, cid, per, subtotal, discount, tax, credit, total, line_sum in docs:
        if line_sum != subtotal:
            differences.append(
                Difference(cid, per, f"invoice {invoice_id} lines vs subtotal", line_sum, subtotal)
            )
        if subtotal - discount + tax - credit != total:
            differences.append(
                Difference(cid, per, f"invoice {invoice_id} total", subtotal - discount + tax - credit, total)
            )
        sums = billed[(cid, per)]
        for i, value in enumerate((subtotal, discount, tax)):
            sums[i] += value
    if not billed:
        return {"checked": 0, "periods": 0, "customer_periods": 0, "energy_lines": 0, "differences": []}
    catalog = load_catalog(conn)
    spans = spans_from_events(conn)
    energy_billed = _energy_billed(conn, period)
    energy_checked = 0
    for (cid, per), actual in sorted(billed.items()):
        customer = catalog.customers.get(cid)
        if customer is None:
            differences.append(Difference(cid, per, "customer", Decimal(0), Decimal(0)))
            continue
        start, end = period_bounds(per, customer.timezone)
        lines = price_period(cid, spans.get(cid, []), catalog, start, end).lines
        energy, _ = energy_lines(conn, cid, start, end)
        differences += _energy_differences(cid, per, energy, energy_billed.get((cid, per), {}))
        energy_checked += len(energy)
        expected = totals_for(catalog, cid, start, lines + energy)
        for name, want, got in zip(
            ("subtotal", "discount", "tax"),
            (expected.subtotal, expected.discount, expected.tax),
            actual,
            strict=True,
        ):
            if want != got:
                differences.append(Difference(cid, per, name, want, got))
    return {
        "checked": len(docs),
        "periods": len({p for _, p in billed}),
        "customer_periods": len(billed),
        "energy_lines": energy_checked,
        "differences": [d.to_dict() for d in differences],
    }


def _energy_billed(conn: psycopg.Connection, period: str | None) -> dict[tuple[str, str], dict]:
    """Per (customer, period): the summed amount of each energy line (kind, contract) over every
    document, the invoice and its notes."""
    billed: dict[tuple[str, str], dict] = defaultdict(dict)
    for cid, per, kind, contract, amount in conn.execute(
        """select i.customer_id, i.period, l.line_kind, l.commitment_id, sum(l.amount_usd)
           from billing.invoice_lines l join billing.invoices i using (invoice_id)
           where l.line_kind in ('energy', 'energy_adder') and (%s::text is null or i.period = %s)
           group by 1, 2, 3, 4""",
        (period, period),
    ):
        billed[(cid, per)][(kind, contract)] = amount
    return billed


def _energy_differences(cid: str, period: str, expected: list[Line], billed: dict) -> list[Difference]:
    want: dict[tuple, Decimal] = defaultdict(Decimal)
    for line in expected:
        want[(line.line_kind, line.commitment_id)] += line.amount
    return [
        Difference(
            cid,
            period,
            f"{kind} {contract}",
            want.get((kind, contract), Decimal(0)),
            billed.get((kind, contract), Decimal(0)),
        )
        for kind, contract in sorted(set(want) | set(billed))
        if want.get((kind, contract), Decimal(0)) != billed.get((kind, contract), Decimal(0))
    ]


def marts_crosscheck(conn: psycopg.Connection, period: str, relation: str = "marts.fct_usage") -> dict:
    """GPU-seconds per customer in its local month ``period``: dbt's usage mart (usage_date is the
    customer's local date) against the spans rebuilt here from raw events. Returns
    ``{"available": bool, "customers": n, "differences": [...]}`` (differences in GPU-seconds)."""
    if conn.execute("select to_regclass(%s)", (relation,)).fetchone()[0] is None:
        return {"available": False, "customers": 0, "differences": []}
    catalog = load_catalog(conn)
    schema, _, table = relation.partition(".")
    query = sql.SQL("select customer_id, usage_date, gpu_seconds from {}").format(
        sql.Identifier(schema, table)
    )
    marts: dict[str, int] = defaultdict(int)
    bounds = {}
    for cid, day, seconds in conn.execute(query):
        if cid not in bounds:
            tz = catalog.customers[cid].timezone if cid in catalog.customers else "UTC"
            start, end = period_bounds(period, tz)
            bounds[cid] = (start, end, local_dates(start, end, tz))
        if bounds[cid][2][0] <= day < bounds[cid][2][1]:
            marts[cid] += int(seconds)
    raw: dict[str, int] = defaultdict(int)
    for customer_id, spans in spans_from_events(conn).items():
        tz = catalog.customers[customer_id].timezone if customer_id in catalog.customers else "UTC"
        start, end = period_bounds(period, tz)
        for span in spans:
            lo, hi = max(span.started_at, start), min(span.ended_at, end)
            if hi > lo:
                raw[customer_id] += span.gpus * int((hi - lo).total_seconds())
    customers = {c for c in set(raw) | set(marts) if raw.get(c, 0) or marts.get(c, 0)}
    differences = [
        Difference(cid, period, "gpu_seconds", Decimal(raw.get(cid, 0)), Decimal(marts.get(cid, 0))).to_dict()
        for cid in sorted(customers)
        if raw.get(cid, 0) != marts.get(cid, 0)
    ]
    return {"available": True, "customers": len(customers), "differences": differences}
