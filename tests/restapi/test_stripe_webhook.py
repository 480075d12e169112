"""POST /v1/stripe/webhook on the out-of-process API: events signed exactly as Stripe signs them
(tests/billing/fake_stripe.py), for an invoice pushed to the local fake Stripe by the real sync."""

from __future__ import annotations

import time
from decimal import Decimal

import psycopg
import pytest

from billing.reports import period_summary
from billing.stripe_sync import LiveGateway, sync_invoice
from tests.billing.fake_stripe import FakeStripe, sign_payload, webhook_event
from tests.restapi.conftest import WEBHOOK_SECRET


@pytest.fixture(scope="module")
def stripe_invoice(api_fleet):
    """The second customer's invoice, pushed to the fake Stripe: (our id, Stripe's invoice object)."""
    invoice_id = api_fleet.invoices[api_fleet.customers[1]][0]
    with FakeStripe() as server, psycopg.connect(api_fleet.url, autocommit=True) as conn:
        pushed = sync_invoice(conn, invoice_id, LiveGateway("sk_test_fake", server.url))
        obj = dict(server.objects["invoice"][pushed["stripe_invoice"]])
    return invoice_id, obj


def _post(api_server, event_type: str, obj: dict, **kwargs):
    body = webhook_event(event_type, obj, **kwargs)
    return api_server.client().post(
        "/v1/stripe/webhook", content=body, headers={"Stripe-Signature": sign_payload(body, WEBHOOK_SECRET)}
    )


def _state(url: str, invoice_id: int) -> tuple[str, int, Decimal]:
    with psycopg.connect(url, autocommit=True) as conn:
        status, period = conn.execute(
            "select status, period from billing.invoices where invoice_id = %s", (invoice_id,)
        ).fetchone()
        events = conn.execute(
            "select count(*) from billing.stripe_events where invoice_id = %s", (invoice_id,)
        ).fetchone()[0]
        ageing = period_summary(conn, period)["receivables_ageing"]
    return status, events, sum(Decimal(v) for v in ageing.values())


def test_signature_is_required_and_checked(api_server, api_fleet, stripe_invoice) -> None:
    invoice_id, obj = stripe_invoice
    before = _state(api_fleet.url, invoice_id)
    body = webhook_event("invoice.paid", {**obj, "status": "paid"})
    client = api_server.client()
    forged = sign_payload(body, "whsec_someone_else")
    stale = sign_payload(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 3600)
    for headers in ({}, {"Stripe-Signature": forged}, {"Stripe-Signature": stale}):
        assert client.post("/v1/stripe/webhook", content=body, headers=headers).status_code == 400
    tampered = body.replace(b'"invoice.paid"', b'"invoice.paid" ')
    good = sign_payload(body, WEBHOOK_SECRET)
    assert (
        client.post("/v1/stripe/webhook", content=tampered, headers={"Stripe-Signature": good}).status_code
        == 400
    )
    assert _state(api_fleet.url, invoice_id) == before


def test_payment_events_move_status_forward_only(api_server, api_fleet, stripe_invoice) -> None:
    invoice_id, obj = stripe_invoice
    status, _, open_before = _state(api_fleet.url, invoice_id)
    assert status == "finalized"
    total = Decimal(obj["total"]) / 100
    now = int(time.time())

    failed = _post(api_server, "invoice.payment_failed", {**obj, "status": "open"}, created=now - 300)
    assert failed.json()["outcome"] == "payment_failed"
    assert _state(api_fleet.url, invoice_id) == ("sent", 1, open_before)  # still owed: still in ageing

    paid_id = "evt_paid_000000000000000001"
    paid = _post(
        api_server,
        "invoice.paid",
        {**obj, "status": "paid", "amount_paid": obj["total"]},
        event_id=paid_id,
        created=now - 60,
    )
    assert paid.json() == {"event_id": paid_id, "outcome": "paid", "duplicate": False}
    assert _state(api_fleet.url, invoice_id) == ("paid", 2, open_before - total)

    again = _post(api_server, "invoice.paid", {**obj, "status": "paid"}, event_id=paid_id, created=now - 60)
    assert again.json() == {"event_id": paid_id, "outcome": "paid", "duplicate": True}

    late_failure = _post(api_server, "invoice.payment_failed", {**obj, "status": "open"}, created=now - 200)
    assert late_failure.json()["outcome"] == "unchanged_paid"
    refund = _post(
        api_server,
        "charge.refunded",
        {"id": "ch_1", "object": "charge", "invoice": obj["id"], "amount_refunded": 100},
    )
    assert refund.json()["outcome"] == "refund_recorded"
    assert _state(api_fleet.url, invoice_id) == ("paid", 4, open_before - total)

    with psycopg.connect(api_fleet.url, autocommit=True) as conn:
        audit = conn.execute(
            "select actor, action, before ->> 'status', after ->> 'status' from ops.audit_log "
            "where entity = %s and actor like 'stripe-webhook:%%' order by audit_id",
            (f"billing.invoices/{invoice_id}",),
        ).fetchall()
        paid_at = conn.execute(
            "select paid_at from billing.invoices where invoice_id = %s", (invoice_id,)
        ).fetchone()[0]
    assert [(a[1], a[2], a[3]) for a in audit] == [
        ("invoice.sent", "finalized", "sent"),
        ("invoice.paid", "sent", "paid"),
    ]
    assert int(paid_at.timestamp()) == now - 60  # when Stripe says it was paid


def test_credit_notes_are_linked_or_flagged(api_server, api_fleet) -> None:
    owner = api_fleet.customers[0]
    note_id = api_fleet.credit_notes[owner][0]
    with psycopg.connect(api_fleet.url, autocommit=True) as conn:
        number = conn.execute(
            "select invoice_number from billing.invoices where invoice_id = %s", (note_id,)
        ).fetchone()[0]
    linked = _post(
        api_server,
        "credit_note.created",
        {"id": "cn_1", "object": "credit_note", "total": 100, "metadata": {"hcp_credit_note_number": number}},
    )
    assert linked.json()["outcome"] == "credit_note_linked"
    stray = _post(
        api_server,
        "credit_note.created",
        {"id": "cn_2", "object": "credit_note", "total": 500, "invoice": "in_unknown", "metadata": {}},
    )
    assert stray.json()["outcome"] == "credit_note_unmatched"
    unknown = _post(api_server, "invoice.paid", {"id": "in_nobody", "object": "invoice", "metadata": {}})
    assert unknown.json()["outcome"] == "unknown_invoice"
