"""Budget alerts at thresholds, PII export / erase / key rotation, and the append-only audit log."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from billing import invoices as inv
from billing.budgets import budget_status, evaluate_budgets, notify, set_budget
from billing.customers import erase_customer, export_customer, invoice_bill_to, rotate_key
from core.pii import load_key
from core.settings import get_settings
from tests.billing import factories as f
from tests.billing.hooks import SENT

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
D = Decimal


@pytest.fixture()
def usage(conn):
    """c1 runs 1 GPU at 2.00/h for 10 h on 1 Oct and 10 h on 11 Oct: 20.00 then 40.00 USD to date."""
    f.customer(conn, "c1")
    devices = f.gpus(conn, "h100", f.H100, 1)
    f.card(conn, "rc-1", None, f.H100, "inference", "2.00", 1, T(2026, 1, 1))
    f.run(conn, "w1", "c1", T(2026, 10, 1), T(2026, 10, 1, 10), devices)
    f.run(conn, "w2", "c1", T(2026, 10, 11), T(2026, 10, 11, 10), devices)
    f.data_until(conn, T(2026, 11, 2))
    return devices


def test_budget_alerts_at_thresholds(conn, usage):
    set_budget(conn, "c1", D("50.00"), T(2026, 1, 1), actor="finance")
    # 2 Oct: 20.00 of 50.00 = 40 %: no alert; projection = 20.00 x 31 days / 1 day = 620.00
    [status] = budget_status(conn, T(2026, 10, 2))
    assert (status["usage_to_date_usd"], status["projected_usd"]) == (D("20.00"), D("620.00"))
    assert evaluate_budgets(conn, T(2026, 10, 2)) == []
    # 12 Oct: 40.00 = 80 %: the 50 % and 80 % alerts, once each
    alerts = evaluate_budgets(conn, T(2026, 10, 12))
    assert sorted(a["threshold_pct"] for a in alerts) == [50, 80]
    assert evaluate_budgets(conn, T(2026, 10, 12)) == []
    SENT.clear()
    assert notify(conn, alerts, hook="tests.billing.hooks:record_alert") == 2
    assert {a["threshold_pct"] for a in SENT} == {"50", "80"}
    # a lower budget from 12 Oct: 40.00 >= 100 % of 40.00
    set_budget(conn, "c1", D("40.00"), T(2026, 10, 12), actor="finance")
    assert [a["threshold_pct"] for a in evaluate_budgets(conn, T(2026, 10, 13))] == [100]
    rows = conn.execute(
        "select threshold_pct, notified_at is not null from billing.budget_alerts order by 1"
    ).fetchall()
    assert rows == [(50, True), (80, True), (100, False)]
    changes = conn.execute(
        "select before, after from ops.audit_log where action = 'budget.change' order by audit_id"
    ).fetchall()
    assert changes[-1][0]["monthly_budget_usd"] == "50.00" and changes[-1][1]["monthly_budget_usd"] == "40.00"


def test_pii_export_erase_keeps_invoice_copy(conn, usage):
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, "2026-10")
    inv.finalize_invoice(conn, draft.invoice_id, now=T(2026, 11, 5))
    exported = export_customer(conn, "c1", actor="dpo")
    assert exported["pii"]["email"] == "billing@c1.example"
    assert exported["invoices"][0]["invoice_number"] == "INV-000001"
    json.dumps(exported)  # serializable as handed to the customer
    assert erase_customer(conn, "c1", actor="dpo") == 1
    erased = export_customer(conn, "c1")
    assert erased["pii"] == {"name": None, "email": None, "billing_address": None, "tax_id": None}
    assert erased["erased_at"] is not None
    # the invoice keeps its own frozen copy of what the law requires, and is still valid
    bill_to = invoice_bill_to(conn, draft.invoice_id)
    assert bill_to["name"] == "Company c1" and bill_to["tax_id"]
    assert "email" not in bill_to
    # no plaintext PII anywhere in the billing schema or the audit log
    dump = conn.execute(
        """select coalesce(string_agg(t::text, ' '), '') from (
               select row_to_json(i)::text as t from billing.invoices i
               union all select row_to_json(a)::text from ops.audit_log a) x"""
    ).fetchone()[0]
    assert "Company c1" not in dump and "billing@c1.example" not in dump


def test_key_rotation_reencrypts(conn, usage, monkeypatch):
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, "2026-10")
    inv.finalize_invoice(conn, draft.invoice_id, now=T(2026, 11, 5))
    old = load_key()
    from core.pii import open_totp_secret, seal_totp_secret

    sealed, kid = seal_totp_secret("ops-admin", "JBSWY3DPEHPK3PXP", old)  # a TOTP key under the old key
    conn.execute(
        "insert into ops.app_users (username, role, totp_secret_encrypted, totp_key_id) values ('ops-admin', 'admin', %s, %s)",
        (sealed, kid),
    )
    new_key = base64.b64encode(b"n" * 32).decode()
    monkeypatch.setenv("HCP_PII_OLD_KEYS", base64.b64encode(old.key).decode())
    monkeypatch.setenv("HCP_PII_KEY", new_key)
    get_settings.cache_clear()
    try:
        counts = rotate_key(conn, actor="security")
        assert counts == {"customers": 1, "invoices": 1, "totp_secrets": 1}
        new = load_key()
        assert conn.execute("select distinct pii_key_id from raw.customers").fetchall() == [(new.key_id,)]
        assert conn.execute("select distinct bill_to_key_id from billing.invoices").fetchall() == [
            (new.key_id,)
        ]
        # readable with the new key alone
        monkeypatch.delenv("HCP_PII_OLD_KEYS")
        assert export_customer(conn, "c1")["pii"]["name"] == "Company c1"
        assert invoice_bill_to(conn, draft.invoice_id)["name"] == "Company c1"
        blob, kid = conn.execute(
            "select totp_secret_encrypted, totp_key_id from ops.app_users where username = 'ops-admin'"
        ).fetchone()
        assert (kid, open_totp_secret("ops-admin", blob, kid)) == (new.key_id, "JBSWY3DPEHPK3PXP")
        assert rotate_key(conn) == {"customers": 0, "invoices": 0, "totp_secrets": 0}
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_audit_log_is_append_only(conn, usage):
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, "2026-10")
    inv.finalize_invoice(conn, draft.invoice_id, now=T(2026, 11, 5), actor="alice")
    row = conn.execute(
        "select audit_id, actor, entity, before, after from ops.audit_log where action = 'invoice.finalize' "
        "order by audit_id desc limit 1"
    ).fetchone()
    assert row[1] == "alice" and row[2] == f"billing.invoices/{draft.invoice_id}"
    assert row[3] == {"status": "draft"} and row[4]["invoice_number"] == "INV-000001"
    for statement in ("update ops.audit_log set actor = 'mallory'", "delete from ops.audit_log"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute(statement)
