"""Attacks on billing integrity (issue 15, attacks 3 and 11): erasing finalized records, jumping a
draft to paid, and races that spend a credit twice or issue two notes for one correction."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from billing import invoices as inv
from tests.billing import factories as f

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
AFTER_GRACE = T(2026, 11, 5)


@pytest.fixture()
def two_months(conn):
    """c1: one GPU-hour of inference at 2.49 in September and in October, and one 3.00 credit."""
    f.customer(conn, "c1")
    devices = f.gpus(conn, "h100", f.H100, 2)
    f.card(conn, "rc-1", None, f.H100, "inference", "2.49", 1, T(2026, 1, 1))
    f.run(conn, "w9", "c1", T(2026, 9, 10, 10), T(2026, 9, 10, 11), devices[:1])
    f.run(conn, "w10", "c1", T(2026, 10, 10, 10), T(2026, 10, 10, 11), devices[:1])
    f.data_until(conn, T(2026, 11, 1, 1))
    conn.execute(
        "insert into billing.credits (credit_id, customer_id, amount_usd, granted_at) "
        "values ('cr-1', 'c1', 3.00, '2026-08-01')"
    )
    f.build_usage(conn)
    return devices


def _in_open_transaction(url: str, work, then) -> list:
    """Run ``work`` on one connection inside a transaction held open while ``then`` starts on another
    (in a thread) and is given 2 s to race; then commit and wait for it. Returns then's result."""
    out: list = []
    with psycopg.connect(url) as first:
        with first.transaction():
            work(first)
            racer = threading.Thread(target=lambda: out.append(then()))
            racer.start()
            time.sleep(2)
        racer.join(timeout=120)
    return out


def test_two_concurrent_drafts_apply_one_credit_once(conn, database_url, two_months):
    def second() -> None:
        with psycopg.connect(database_url) as other:
            inv.build_drafts(other, "2026-10")

    _in_open_transaction(database_url, lambda c: inv.build_drafts(c, "2026-09"), second)
    applied = conn.execute("select coalesce(sum(amount_usd), 0) from billing.credit_applications").fetchone()[
        0
    ]
    assert applied == Decimal("3.00")
    credits = dict(conn.execute("select period, credit_usd from billing.invoices order by period").fetchall())
    assert credits == {"2026-09": Decimal("2.49"), "2026-10": Decimal("0.51")}


def test_two_concurrent_corrections_issue_one_note(conn, database_url, two_months):
    [draft] = inv.build_drafts(conn, "2026-10")
    inv.finalize_invoice(conn, draft.invoice_id, now=AFTER_GRACE)
    f.run(conn, "w11", "c1", T(2026, 10, 20), T(2026, 10, 20, 1), two_months[1:])  # late usage
    f.build_usage(conn)

    def second():
        with psycopg.connect(database_url) as other:
            return inv.correct_invoice(other, draft.invoice_id, "late usage (racer)", now=AFTER_GRACE)

    out = _in_open_transaction(
        database_url,
        lambda c: inv.correct_invoice(c, draft.invoice_id, "late usage", now=AFTER_GRACE),
        second,
    )
    notes = conn.execute("select count(*) from billing.invoices where refers_to = %s", (draft.invoice_id,))
    assert notes.fetchone()[0] == 1
    assert out == [None]


def _refused(conn, statement: str, match: str) -> None:
    with pytest.raises(psycopg.errors.RaiseException, match=match), conn.transaction():
        conn.execute(statement)


def test_finalized_records_cannot_be_truncated_or_deleted(conn, two_months):
    drafts = inv.build_drafts(conn, "2026-09")
    inv.finalize_invoice(conn, drafts[0].invoice_id, now=AFTER_GRACE)
    for table in (
        "ops.audit_log",
        "billing.invoice_lines",
        "billing.invoice_line_usage",
        "billing.credit_applications",
        "billing.invoices",
        "billing.credits",
    ):
        _refused(conn, f"truncate {table} cascade", "not allowed")
    _refused(conn, "delete from ops.audit_log", "append-only")
    _refused(conn, "delete from billing.invoice_lines", "immutable")
    _refused(conn, "delete from billing.invoice_line_usage", "immutable")  # lineage
    _refused(conn, "delete from billing.credit_applications", "immutable")
    _refused(conn, "update billing.credit_applications set amount_usd = 0.01", "immutable")
    assert conn.execute("select count(*) from billing.invoice_line_usage").fetchone()[0] > 0


def test_draft_cannot_jump_to_paid(conn, two_months):
    [draft] = inv.build_drafts(conn, "2026-09")
    _refused(
        conn,
        f"update billing.invoices set status = 'paid' where invoice_id = {draft.invoice_id}",
        "cannot move from draft to paid",
    )
    with pytest.raises(Exception, match="draft"):
        inv.set_status(conn, draft.invoice_id, "paid")
    inv.finalize_invoice(conn, draft.invoice_id, now=AFTER_GRACE)
    inv.set_status(conn, draft.invoice_id, "paid")
    _refused(
        conn,
        f"update billing.invoices set status = 'sent' where invoice_id = {draft.invoice_id}",
        "cannot move from paid to sent",
    )
