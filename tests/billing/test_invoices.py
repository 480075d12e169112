"""Invoice workflow on hand-computed data: drafts, grace, data-quality gate, finalization,
immutability, gapless numbering under concurrency, credit/debit notes, reconciliation, audit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from billing import invoices as inv
from billing.reconcile import marts_crosscheck, reconcile
from ingestion.bulk import ensure_day_partitions
from tests.billing import factories as f

# every test starts on a database of its own; many builds: handed out first (tests/conftest.py)
pytestmark = [pytest.mark.fresh_database, pytest.mark.slow(seconds=90)]

D = Decimal
T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
PERIOD = "2026-10"
AFTER_GRACE = T(2026, 11, 5)


@pytest.fixture()
def month(conn):
    """c1 (UTC, 8.25 % tax): 2 GPUs x 2.5 h inference at 2.49 = 12.45; a batch job 630 s + 1 s at
    60 s increments = 720 s at 1.99 = 0.398 -> 0.40. Subtotal 12.85, tax 1.060125 -> 1.06, total 13.91."""
    f.customer(conn, "c1", tax="0.0825")
    devices = f.gpus(conn, "h100", f.H100, 4)
    f.card(conn, "rc-1", None, f.H100, "inference", "2.49", 1, T(2026, 1, 1))
    f.card(conn, "rc-2", None, f.H100, "batch", "1.99", 60, T(2026, 1, 1))
    f.run(conn, "w1", "c1", T(2026, 10, 5, 10), T(2026, 10, 5, 12, 30), devices[:2])
    f.event(conn, "w2", "c1", "started", T(2026, 10, 6, 0, 0, 0), "batch", devices=devices[2:3])
    f.event(conn, "w2", "c1", "paused", T(2026, 10, 6, 0, 10, 30), "batch")
    f.event(conn, "w2", "c1", "resumed", T(2026, 10, 6, 1), "batch", devices=devices[2:3])
    f.event(conn, "w2", "c1", "completed", T(2026, 10, 6, 1, 0, 1), "batch")
    f.data_until(conn, T(2026, 11, 1, 1))
    return devices


def test_draft_amounts_and_usage_links(conn, month):
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, PERIOD)
    assert (draft.subtotal_usd, draft.tax_usd, draft.total_usd) == (D("12.85"), D("1.06"), D("13.91"))
    lines = conn.execute(
        "select workload_type, quantity, amount_usd from billing.invoice_lines order by line_no"
    ).fetchall()
    assert lines == [("batch", D("0.2"), D("0.40")), ("inference", D("5"), D("12.45"))]
    # "why this amount" is one query: line -> usage rows behind it
    why = conn.execute(
        """select l.amount_usd, u.workload_id, u.gpus, u.gpu_seconds, u.billable_seconds, u.rate_usd_per_gpu_hour
           from billing.invoice_lines l join billing.invoice_line_usage u using (line_id)
           where l.workload_type = 'batch' order by u.started_at"""
    ).fetchall()
    assert [(r[1], r[3], r[4]) for r in why] == [("w2", 630, 660), ("w2", 1, 60)]
    # rebuilding a draft replaces it
    f.build_usage(conn)
    inv.build_drafts(conn, PERIOD)
    assert conn.execute("select count(*) from billing.invoices").fetchone()[0] == 1


def test_stale_draft_is_not_finalized(conn, month):
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, PERIOD)
    f.run(conn, "w5", "c1", T(2026, 10, 25), T(2026, 10, 25, 1), month[:1])  # late usage after the draft
    with pytest.raises(inv.DataQualityError, match="stale"):
        inv.finalize_invoice(conn, draft.invoice_id, now=AFTER_GRACE)
    # finalize_period rebuilds first, so the late usage is billed
    f.build_usage(conn)
    assert inv.finalize_period(conn, PERIOD, now=AFTER_GRACE)["finalized"] == ["INV-000001"]
    assert conn.execute("select subtotal_usd from billing.invoices").fetchone()[0] == D("15.34")


def test_grace_period_keeps_draft(conn, month):
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, PERIOD)
    with pytest.raises(inv.InvoiceError, match="grace period"):
        inv.finalize_invoice(conn, draft.invoice_id, now=T(2026, 11, 2))
    assert conn.execute("select status from billing.invoices").fetchone()[0] == "draft"
    assert inv.finalize_invoice(conn, draft.invoice_id, now=AFTER_GRACE) == "INV-000001"


def test_data_quality_gate(conn, month):
    # a workload on a pool whose GPU model has no rate card: its price is missing
    l40 = f.gpus(conn, "l40s", f.L40S, 1)
    f.run(conn, "w9", "c1", T(2026, 10, 7), T(2026, 10, 7, 1), l40, pool="l40s")
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, PERIOD)
    with pytest.raises(inv.DataQualityError, match="no rate card"):
        inv.finalize_invoice(conn, draft.invoice_id, now=AFTER_GRACE)
    # usage incomplete: November has no data past its first hour
    f.run(conn, "w10", "c1", T(2026, 11, 1, 0, 10), T(2026, 11, 1, 0, 20), month[:1])
    f.build_usage(conn)
    [nov] = inv.build_drafts(conn, "2026-11")
    with pytest.raises(inv.DataQualityError, match="usage incomplete"):
        inv.finalize_invoice(conn, nov.invoice_id, now=T(2026, 12, 10))


def test_finalized_invoice_is_immutable(conn, month):
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, PERIOD)
    inv.finalize_invoice(conn, draft.invoice_id, now=AFTER_GRACE)
    for statement in (
        "update billing.invoices set total_usd = 0",
        "update billing.invoices set invoice_number = 'INV-999'",
        "delete from billing.invoices",
        "update billing.invoice_lines set amount_usd = 0",
        "delete from billing.invoice_lines",
        "update billing.invoice_line_usage set gpu_seconds = 0",
    ):
        with pytest.raises(psycopg.errors.RaiseException):
            conn.execute(statement)
    line_id = conn.execute("select max(line_id) from billing.invoice_lines").fetchone()[0]
    with pytest.raises(psycopg.errors.RaiseException):
        conn.execute(
            """insert into billing.invoice_lines (invoice_id, line_no, line_kind, description, quantity, unit,
                   unit_price_usd, amount_usd) values (%s, 99, 'usage', 'x', 1, 'h', 1, 1)""",
            (draft.invoice_id,),
        )
    assert line_id is not None
    inv.set_status(conn, draft.invoice_id, "sent")
    inv.set_status(conn, draft.invoice_id, "paid")
    with pytest.raises(psycopg.errors.RaiseException):
        conn.execute("update billing.invoices set status = 'sent'")
    # rebuilding drafts leaves the finalized invoice alone
    f.build_usage(conn)
    assert inv.build_drafts(conn, PERIOD) == []


def test_gapless_numbers_under_concurrent_finalization(conn, database_url):
    f.card(conn, "rc-1", None, f.H100, "inference", "2.49", 1, T(2026, 1, 1))
    devices = f.gpus(conn, "h100", f.H100, 1)
    customers = [f"k{i:02d}" for i in range(12)]
    for i, cid in enumerate(customers):
        f.customer(conn, cid)
        f.run(conn, f"w{i}", cid, T(2026, 10, 2, i), T(2026, 10, 2, i, 30), devices)
    f.data_until(conn, T(2026, 11, 2))
    f.build_usage(conn)
    drafts = inv.build_drafts(conn, PERIOD)
    assert len(drafts) == 12
    barrier = threading.Barrier(len(drafts))
    errors: list[BaseException] = []

    def worker(index: int, invoice_id: int) -> None:
        try:
            with psycopg.connect(database_url) as own:  # not autocommit: an outer transaction
                barrier.wait()
                own.execute("select 1")  # opens the outer transaction; finalize runs in a savepoint
                inv.finalize_invoice(own, invoice_id, now=AFTER_GRACE, check_inputs=False)
                if index % 3 == 0:
                    own.rollback()  # a failure after the number was taken: it must be given back
                else:
                    own.commit()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i, d.invoice_id)) for i, d in enumerate(drafts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = [
        r[0] for r in conn.execute("select invoice_number from billing.invoices where status = 'finalized'")
    ]
    assert sorted(numbers) == [f"INV-{n:06d}" for n in range(1, 9)]
    assert (
        conn.execute("select next_number from billing.invoice_counters where series = 'INV'").fetchone()[0]
        == 9
    )


def test_credit_and_debit_notes_and_reconcile(conn, month):
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, PERIOD)
    inv.finalize_invoice(conn, draft.invoice_id, now=AFTER_GRACE)
    assert reconcile(conn, PERIOD)["differences"] == []
    # late usage after finalization: 1 GPU-hour more at 2.49 -> reconcile sees it, a debit note fixes it
    f.run(conn, "w3", "c1", T(2026, 10, 20), T(2026, 10, 20, 1), month[:1])
    result = reconcile(conn, PERIOD)
    assert {d["field"] for d in result["differences"]} == {"subtotal", "tax"}
    f.build_usage(conn)
    debit = inv.correct_invoice(conn, draft.invoice_id, "late usage", now=AFTER_GRACE)
    assert debit == "INV-000002"
    note = conn.execute(
        "select kind, subtotal_usd, tax_usd, total_usd, refers_to from billing.invoices where invoice_number = %s",
        (debit,),
    ).fetchone()
    # 15.34 taxed 1.26555 -> 1.27; minus what was billed (12.85, 1.06)
    assert note == ("debit_note", D("2.49"), D("0.21"), D("2.70"), draft.invoice_id)
    assert reconcile(conn, PERIOD)["differences"] == []
    # a revised event (newer load of the same event id) ends w1 an hour earlier: a credit note
    eid = conn.execute(
        "select event_id from raw.workload_events where workload_id = 'w1' and event_type = 'completed'"
    ).fetchone()[0]
    f.event(conn, "w1", "c1", "completed", T(2026, 10, 5, 11, 30), load_id=2, eid=eid)
    f.build_usage(conn)
    credit = inv.correct_invoice(conn, draft.invoice_id, "revised completion time", now=AFTER_GRACE)
    assert credit == "CN-000001"
    kind, total = conn.execute(
        "select kind, total_usd from billing.invoices where invoice_number = %s", (credit,)
    ).fetchone()
    # 2 GPU-hours less at 2.49 = -4.98; tax: round(10.36 x 0.0825) - 1.27 = 0.85 - 1.27 = -0.42
    assert (kind, total) == ("credit_note", D("-5.40"))
    assert reconcile(conn)["differences"] == []
    f.build_usage(conn)
    assert inv.correct_invoice(conn, draft.invoice_id, "nothing changed", now=AFTER_GRACE) is None
    actions = [r[0] for r in conn.execute("select action from ops.audit_log order by audit_id")]
    assert {"invoice.finalize", "invoice.debit_note", "invoice.credit_note"} <= set(actions)


def test_reconcile_finds_planted_difference(conn, month):
    f.build_usage(conn)
    inv.build_drafts(conn, PERIOD)
    conn.execute("update billing.invoice_lines set amount_usd = amount_usd + 0.01 where line_no = 1")
    conn.execute(
        "update billing.invoices set subtotal_usd = subtotal_usd + 0.01, total_usd = total_usd + 0.01"
    )
    result = reconcile(conn, PERIOD)
    assert result["checked"] == 1
    assert [d["field"] for d in result["differences"]] == ["subtotal"]
    assert result["differences"][0]["expected"] == "12.85"


def test_customer_timezone_period(conn, month):
    # a Chicago customer: 2026-10-31 23:30 local is 2026-11-01 04:30 UTC, still October
    f.customer(conn, "c2", tz="America/Chicago")
    f.run(conn, "w4", "c2", T(2026, 11, 1, 4), T(2026, 11, 1, 6), month[:1])
    f.data_until(conn, T(2026, 11, 1, 7))
    f.build_usage(conn)
    drafts = {d.customer_id: d for d in inv.build_drafts(conn, PERIOD)}
    # October ends at 1 Nov 00:00 CDT = 05:00 UTC: one of the two GPU-hours is October's
    assert drafts["c2"].subtotal_usd == D("2.49")
    start = conn.execute(
        "select period_start, period_end from billing.invoices where customer_id = 'c2'"
    ).fetchone()
    assert start == (T(2026, 10, 1, 5), T(2026, 11, 1, 5))
    assert reconcile(conn, PERIOD)["differences"] == []


def test_running_workload_is_cut_at_the_newest_event(conn, month):
    """A workload still running at the end of the data is billed up to the newest workload event,
    also when telemetry reaches further (the running month's drafts of `hcp demo --devices 60
    --days 2`, where reconcile found cust-008's draft 2.26 too high): drafts and reconcile agree."""
    f.event(conn, "w6", "c1", "started", T(2026, 10, 10), devices=month[3:4])
    f.event(conn, "w7", "c1", "submitted", T(2026, 10, 10, 1))  # the newest event
    # device telemetry reaches 31 Oct 23:55, three weeks past the newest event
    conn.execute(
        """insert into raw.facilities values ('fac-1', 'Site', 'ERCOT', 'HB_WEST', 'America/Chicago',
               1000, 1.1, 1)"""
    )
    ensure_day_partitions(conn, "device_telemetry", [T(2026, 10, 31, 23, 55)])
    conn.execute(
        "insert into raw.device_telemetry (device_id, ts, power_kw, load_id) values (%s, %s, 0.7, 1)",
        (month[0], T(2026, 10, 31, 23, 55)),
    )
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, PERIOD)
    # w6: 1 GPU-hour at 2.49 on top of the month's 12.85
    assert draft.subtotal_usd == D("15.34")
    assert reconcile(conn, PERIOD)["differences"] == []
    # an event arriving later, still before the telemetry's end, makes the usage mart stale
    f.event(conn, "w6", "c1", "paused", T(2026, 10, 10, 2))
    problems = inv.period_problems(conn, PERIOD, "c1", inv.PricedPeriod("c1", [], []))
    assert any("usage mart is stale" in p for p in problems)


def test_marts_crosscheck(conn, month):
    """GPU-seconds of a usage mart shaped like marts.fct_usage against the raw recomputation."""
    assert marts_crosscheck(conn, PERIOD, "billing_test.no_such_mart")["available"] is False
    conn.execute("create schema if not exists billing_test")
    conn.execute("drop table if exists billing_test.fct_usage")
    conn.execute(
        "create table billing_test.fct_usage (usage_date date, customer_id text, gpu_seconds bigint)"
    )
    # w1: 2 GPUs x 9000 s; w2: 630 s + 1 s
    conn.execute(
        "insert into billing_test.fct_usage values ('2026-10-05', 'c1', 18000), ('2026-10-06', 'c1', 631)"
    )
    result = marts_crosscheck(conn, PERIOD, "billing_test.fct_usage")
    assert (result["available"], result["customers"], result["differences"]) == (True, 1, [])
    conn.execute("update billing_test.fct_usage set gpu_seconds = 600 where usage_date = '2026-10-06'")
    [diff] = marts_crosscheck(conn, PERIOD, "billing_test.fct_usage")["differences"]
    assert (diff["expected"], diff["actual"]) == ("18631", "18600")
    conn.execute("drop schema billing_test cascade")
