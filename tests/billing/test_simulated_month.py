"""A simulated month end to end: simulate -> ingest -> seed -> invoices -> finalize -> reconcile
(zero differences, then a planted one is found) -> reports; plus colocation and tiered lines."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing import invoices as inv
from billing.reconcile import reconcile
from billing.reports import write_period_reports
from tests.billing import factories as f
from tests.databases import Template
from tests.templates import BILLING_NOW as NOW
from tests.templates import BILLING_PERIOD as PERIOD

pytestmark = pytest.mark.fresh_database  # every test starts on its own copy of the month


@pytest.fixture(scope="module")
def database_template(billing_month_template: Template) -> Template:
    """Each test starts on its own copy of the finalized month (they plant differences)."""
    return billing_month_template


@pytest.fixture(scope="module")
def month(billing_month_template: Template) -> dict:
    """October 2026 (tests/templates.py) as finalizing it returned: invoice numbers finalized and refused."""
    return billing_month_template.meta


def test_month_finalizes_and_reconciles(conn, month):
    assert month["refused"] == []
    assert len(month["finalized"]) >= 5
    numbers = sorted(month["finalized"])
    assert numbers == [f"INV-{n:06d}" for n in range(1, len(numbers) + 1)]
    result = reconcile(conn, PERIOD)
    assert result["checked"] == len(numbers)
    assert result["differences"] == []
    # colocation energy was recomputed independently (pandas, raw tables) and matched every line
    billed_energy = conn.execute(
        "select count(*) from billing.invoice_lines where line_kind in ('energy', 'energy_adder')"
    ).fetchone()[0]
    assert result["energy_lines"] == billed_energy >= 2
    kinds = {r[0] for r in conn.execute("select distinct line_kind from billing.invoice_lines")}
    assert {"usage", "commitment", "energy", "energy_adder"} <= kinds
    assert kinds & {"tiered"}
    # every usage line's amount is explained by its usage rows (same seconds)
    mismatched = conn.execute(
        """select l.line_id from billing.invoice_lines l join billing.invoice_line_usage u using (line_id)
           where l.line_kind in ('usage', 'tiered')
           group by l.line_id, l.quantity having abs(sum(u.billable_seconds) / 3600 - l.quantity) > 0.000001"""
    ).fetchall()
    assert mismatched == []


def test_reconcile_finds_planted_difference(conn, month):
    # a revised completion event (a newer load) changes usage after finalization
    wid, eid, at = conn.execute(
        """select workload_id, event_id, event_at from raw.workload_events
           where event_type = 'completed' and event_at between '2026-10-10' and '2026-10-20'
           order by event_id limit 1"""
    ).fetchone()
    row = conn.execute(
        """select customer_id, workload_type, gpu_pool from raw.workload_events where event_id = %s""", (eid,)
    ).fetchone()
    f.event(
        conn,
        wid,
        row[0],
        "completed",
        at.replace(minute=(at.minute + 7) % 60),
        row[1],
        row[2],
        load_id=999,
        eid=eid,
    )
    result = reconcile(conn, PERIOD)
    assert result["differences"], "the revised event should change the recomputation"
    assert all(d["customer_id"] == row[0] for d in result["differences"])
    invoice_id = conn.execute(
        "select invoice_id from billing.invoices where customer_id = %s and period = %s and kind = 'invoice'",
        (row[0], PERIOD),
    ).fetchone()[0]
    f.build_usage(conn)
    assert inv.correct_invoice(conn, invoice_id, "revised event", now=NOW)
    assert reconcile(conn, PERIOD)["differences"] == []


def _invoice_of(conn, customer_id: str) -> int:
    return conn.execute(
        "select invoice_id from billing.invoices where customer_id = %s and period = %s and kind = 'invoice'",
        (customer_id, PERIOD),
    ).fetchone()[0]


def _colocation_customers(conn) -> set[str]:
    return {c for (c,) in conn.execute("select customer_id from billing.colocation_contracts")}


def _colocation(conn) -> tuple[str, int, str, str, str]:
    """The first colocation contract: customer, its October invoice, contract id, market, node."""
    cid, contract_id, market, node = conn.execute(
        """select c.customer_id, c.contract_id, f.market, f.price_node
           from billing.colocation_contracts c join raw.facilities f using (facility_id)
           order by c.contract_id limit 1"""
    ).fetchone()
    return cid, _invoice_of(conn, cid), contract_id, market, node


def _energy_fields(result: dict) -> set[str]:
    return {d["field"] for d in result["differences"] if d["field"].startswith("energy")}


def test_reconcile_finds_revised_energy_price(conn, month):
    cid, invoice_id, contract_id, market, node = _colocation(conn)
    assert _energy_fields(reconcile(conn, PERIOD)) == set()
    # the ISO revises one real-time price of the rack's node after the invoice was finalized
    revised = conn.execute(
        """insert into raw.energy_prices (market, node_name, price_kind, interval_start_utc, interval_minutes,
               interval_start_local, price_usd_per_mwh, load_id)
           select market, node_name, price_kind, interval_start_utc, interval_minutes, interval_start_local,
                  price_usd_per_mwh + 250, (select max(load_id) + 1 from raw.energy_prices)
           from raw.energy_prices
           where market = %s and node_name = %s and price_kind = 'rt'
             and interval_start_utc = '2026-10-12 14:00+00'""",
        (market, node),
    )
    assert revised.rowcount == 1
    result = reconcile(conn, PERIOD)
    assert (cid, f"energy {contract_id}") in {(d["customer_id"], d["field"]) for d in result["differences"]}
    # every colocation rack priced at that node is affected, on its energy line only (not the adder)
    at_node = {
        f"energy {c}"
        for (c,) in conn.execute(
            """select c.contract_id from billing.colocation_contracts c join raw.facilities f using (facility_id)
               where f.market = %s and f.price_node = %s""",
            (market, node),
        )
    }
    assert _energy_fields(result) == at_node
    [energy] = [d for d in result["differences"] if d["field"] == f"energy {contract_id}"]
    assert Decimal(energy["expected"]) > Decimal(energy["actual"])
    assert {d["customer_id"] for d in result["differences"]} <= _colocation_customers(conn)
    for customer_id in sorted({d["customer_id"] for d in result["differences"]}):
        assert inv.correct_invoice(conn, _invoice_of(conn, customer_id), "ISO price revision", now=NOW)
    assert reconcile(conn, PERIOD)["differences"] == []


def test_reconcile_follows_contract_versions(conn, month):
    cid, invoice_id, contract_id, _, _ = _colocation(conn)
    # a new adder version recorded late, in force from mid-October: both the recomputation and the
    # invoice builder bill each half under its own version (never both for the whole month)
    conn.execute(
        """insert into billing.colocation_contracts (contract_id, customer_id, facility_id, rack,
               adder_usd_per_mwh, effective_from)
           select contract_id || '-v2', customer_id, facility_id, rack, 15.5, '2026-10-16 00:00+00'
           from billing.colocation_contracts where contract_id = %s""",
        (contract_id,),
    )
    result = reconcile(conn, PERIOD)
    fields = _energy_fields(result)
    assert {
        f"energy {contract_id}-v2",
        f"energy_adder {contract_id}-v2",
        f"energy_adder {contract_id}",
    } <= fields
    number = inv.correct_invoice(conn, invoice_id, "adder version from 16 Oct", now=NOW)
    assert number
    kinds = conn.execute(
        """select l.line_kind, l.commitment_id from billing.invoice_lines l
           join billing.invoices i using (invoice_id) where i.invoice_number = %s""",
        (number,),
    ).fetchall()
    assert ("energy_adder", f"{contract_id}-v2") in kinds
    assert reconcile(conn, PERIOD)["differences"] == []


def test_reports(conn, month, tmp_path):
    result = write_period_reports(conn, PERIOD, tmp_path, as_of=datetime(2026, 12, 20, tzinfo=UTC))
    pdfs = sorted(tmp_path.glob("INV-*.pdf"))
    assert len(pdfs) >= len(month["finalized"])
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    first = tmp_path / f"{month['finalized'][0]}.csv"
    rows = list(csv.DictReader(first.open()))
    lines = conn.execute(
        """select count(*), sum(amount_usd) from billing.invoice_lines l join billing.invoices i using (invoice_id)
           where i.invoice_number = %s""",
        (month["finalized"][0],),
    ).fetchone()
    assert len(rows) == lines[0]
    assert sum(Decimal(r["amount_usd"]) for r in rows) == lines[1]
    summary = result["summary"]
    assert Decimal(summary["totals"]["total"]) == sum(
        Decimal(v["total"]) for v in summary["by_customer"].values()
    )
    # due 15 days after 10 Nov = 25 Nov; at 20 Dec unpaid invoices are 25 days late
    assert Decimal(summary["receivables_ageing"]["1-30"]) > 0
    assert (tmp_path / f"summary-{PERIOD}.pdf").exists()
