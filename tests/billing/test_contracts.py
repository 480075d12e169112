"""Committed use, graduated tiers, discount, prepaid credits and tax on one hand-computed invoice."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing import invoices as inv
from billing.reconcile import reconcile
from tests.billing import factories as f

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
D = Decimal


def test_commitment_tiers_discount_credit_tax(conn):
    f.customer(conn, "c1", tax="0.05")
    h100 = f.gpus(conn, "h100", f.H100, 2)
    l40s = f.gpus(conn, "l40s", f.L40S, 1)
    f.card(conn, "rc-1", None, f.H100, "inference", "2.49", 1, T(2026, 1, 1))
    f.card(conn, "rc-2", None, f.L40S, "batch", "0.79", 60, T(2026, 1, 1))
    since = T(2026, 1, 1)
    for statement, params in (
        ("insert into billing.commitments values ('cm-1', 'c1', 'h100', 1, 1.00, %s, null)", (since,)),
        (
            """insert into billing.price_plans (plan_id, customer_id, gpu_model, workload_type, pricing_model,
                   effective_from) values ('p-1', 'c1', %s, 'batch', 'graduated', %s)""",
            (f.L40S, since),
        ),
        (
            "insert into billing.price_plan_tiers values ('p-1', 1, 10, 2.00, 0), ('p-1', 2, null, 1.00, 0)",
            (),
        ),
        ("insert into billing.discounts values ('c1', 10, %s)", (since,)),
        ("insert into billing.credits values ('cr-1', 'c1', 100.00, %s, null, 'prepaid')", (since,)),
    ):
        conn.execute(statement, params)
    # 2 H100 x 400 h of inference from 1 Oct; 1 L40S x 15 h of batch on 20 Oct
    f.run(conn, "w1", "c1", T(2026, 10, 1), T(2026, 10, 17, 16), h100)
    f.run(conn, "w2", "c1", T(2026, 10, 20), T(2026, 10, 20, 15), l40s, wtype="batch", pool="l40s")
    f.data_until(conn, T(2026, 11, 2))
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, "2026-10")
    lines = {
        r[0]: (r[1], r[2])
        for r in conn.execute("select line_kind, quantity, amount_usd from billing.invoice_lines")
    }
    # 1 GPU reserved x 744 h x 1.00 = 744.00, covering 744 of the 800 GPU-hours used
    assert lines["commitment"] == (D("744"), D("744.00"))
    # overage: 56 h at the on-demand 2.49 = 139.44
    assert lines["usage"] == (D("56"), D("139.44"))
    # graduated: 10 h x 2.00 + 5 h x 1.00 = 25.00
    assert lines["tiered"] == (D("15"), D("25.00"))
    # subtotal 908.44; discount 10 % = 90.844 -> 90.84; tax 5 % of 817.60 = 40.88; owed 858.48; credit 100
    assert (draft.subtotal_usd, draft.discount_usd, draft.tax_usd) == (D("908.44"), D("90.84"), D("40.88"))
    assert (draft.credit_usd, draft.total_usd) == (D("100.00"), D("758.48"))
    covered = conn.execute(
        """select sum(u.billable_seconds) from billing.invoice_line_usage u
           join billing.invoice_lines l using (line_id) where l.line_kind = 'commitment'"""
    ).fetchone()[0]
    assert covered == 744 * 3600
    inv.finalize_invoice(conn, draft.invoice_id, now=T(2026, 11, 5))
    assert reconcile(conn, "2026-10")["differences"] == []
    # the credit is spent: a second period gets none of it
    f.run(conn, "w3", "c1", T(2026, 11, 3), T(2026, 11, 3, 1), l40s, wtype="batch", pool="l40s")
    f.data_until(conn, T(2026, 12, 2))
    f.build_usage(conn)
    nov = {d.period: d for d in inv.build_drafts(conn, "2026-11")}["2026-11"]
    assert nov.credit_usd == D("0")
