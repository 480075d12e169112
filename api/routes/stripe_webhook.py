"""POST /v1/stripe/webhook: payment status back from Stripe, verified, idempotent, forward only.

The signature is checked by the stripe library (``Webhook.construct_event``: HMAC-SHA256 of
``timestamp.payload`` with the endpoint's ``whsec_`` secret, 5-minute tolerance). Each event id is
recorded once in ``billing.stripe_events`` with what it did; a redelivery changes nothing and
answers the first outcome. Invoice status only moves forward (finalized -> sent -> paid, as
``billing.guard_invoice`` enforces), so events arriving out of order cannot undo a payment:

- ``invoice.paid``: finalized or sent -> paid (paid_at = the event's time); leaves AR ageing;
- ``invoice.payment_failed``: finalized -> sent (Stripe did send it); stays in AR ageing; a failure
  reported after the payment changes nothing;
- ``charge.refunded``: recorded with the refunded amount; a paid invoice stays paid (a refund is
  money going back, finance books it; it does not reopen the receivable);
- ``credit_note.created``: linked to our credit note by its number in the metadata, or recorded as
  unmatched (a note created in Stripe's dashboard, which finance must mirror with ``hcp billing correct``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
import stripe
from fastapi import APIRouter, Header, HTTPException, Request

from api.config import get_api_settings
from api.schemas import WebhookResult

router = APIRouter(tags=["stripe"])
HANDLED = ("invoice.paid", "invoice.payment_failed", "charge.refunded", "credit_note.created")


def _our_invoice(conn: psycopg.Connection, stripe_invoice: str | None, number: str | None) -> int | None:
    """Our invoice id for a Stripe invoice: the sync's record first, its metadata second."""
    if stripe_invoice:
        row = conn.execute(
            """select i.invoice_id from billing.stripe_objects o
               join billing.invoices i on i.invoice_number = o.our_id
               where o.object_type = 'invoice' and o.stripe_id = %s""",
            (stripe_invoice,),
        ).fetchone()
        if row:
            return row[0]
    if number:
        row = conn.execute(
            "select invoice_id from billing.invoices where invoice_number = %s", (number,)
        ).fetchone()
        return row[0] if row else None
    return None


def _advance(conn, invoice_id: int, to: str, at: datetime, event: dict) -> str:
    """Move an invoice forward to ``to`` (sent or paid) if it is behind; returns the outcome."""
    allowed = {"sent": ("finalized",), "paid": ("finalized", "sent")}[to]
    column = {"sent": "sent_at", "paid": "paid_at"}[to]
    before = conn.execute(
        "select status from billing.invoices where invoice_id = %s for update", (invoice_id,)
    ).fetchone()[0]
    if before not in allowed:
        return f"unchanged_{before}"
    conn.execute(
        f"update billing.invoices set status = %s, {column} = %s where invoice_id = %s", (to, at, invoice_id)
    )
    conn.execute(
        """insert into ops.audit_log (actor, action, entity, before, after)
           values (%s, %s, %s, %s::jsonb, %s::jsonb)""",
        (
            f"stripe-webhook:{event['id']}",
            f"invoice.{to}",
            f"billing.invoices/{invoice_id}",
            json.dumps({"status": before}),
            json.dumps({"status": to, "stripe_event": event["id"], "event_type": event["type"]}),
        ),
    )
    return to


def handle_event(conn: psycopg.Connection, event: dict) -> tuple[str, bool]:
    """Apply one verified event in one transaction; returns (outcome, whether it was a duplicate)."""
    obj: dict[str, Any] = event["data"]["object"]
    metadata = obj.get("metadata") or {}
    at = datetime.fromtimestamp(event["created"], UTC)
    with conn.transaction():
        conn.execute("set local synchronous_commit = on")  # payments are not audit noise
        seen = conn.execute(
            "select outcome from billing.stripe_events where event_id = %s", (event["id"],)
        ).fetchone()
        if seen:
            return seen[0], True
        invoice_id, amount = None, None
        kind = event["type"]
        if kind in ("invoice.paid", "invoice.payment_failed"):
            invoice_id = _our_invoice(conn, obj.get("id"), metadata.get("hcp_invoice_number"))
            amount = obj.get("amount_paid") if kind == "invoice.paid" else obj.get("amount_due")
            if invoice_id is None:
                outcome = "unknown_invoice"
            elif kind == "invoice.paid":
                outcome = _advance(conn, invoice_id, "paid", at, event)
            else:
                moved = _advance(conn, invoice_id, "sent", at, event)
                outcome = "payment_failed" if moved == "sent" or moved == "unchanged_sent" else moved
        elif kind == "charge.refunded":
            invoice_id = _our_invoice(conn, obj.get("invoice"), metadata.get("hcp_invoice_number"))
            amount = obj.get("amount_refunded")
            outcome = "refund_recorded" if invoice_id else "unknown_invoice"
        elif kind == "credit_note.created":
            number = metadata.get("hcp_credit_note_number")
            row = (
                conn.execute(
                    "select invoice_id from billing.invoices where invoice_number = %s and kind = 'credit_note'",
                    (number,),
                ).fetchone()
                if number
                else None
            )
            invoice_id = row[0] if row else _our_invoice(conn, obj.get("invoice"), None)
            amount = obj.get("total")
            outcome = "credit_note_linked" if row else "credit_note_unmatched"
        else:
            outcome = "ignored"
        conn.execute(
            """insert into billing.stripe_events (event_id, event_type, stripe_created, stripe_object,
                   invoice_id, amount_cents, outcome) values (%s, %s, %s, %s, %s, %s, %s)""",
            (event["id"], kind, at, obj.get("id"), invoice_id, amount, outcome),
        )
    return outcome, False


@router.post("/v1/stripe/webhook", response_model=WebhookResult, summary="Stripe webhook (signed by Stripe)")
async def stripe_webhook(
    request: Request, stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None
) -> dict:
    secret = get_api_settings().stripe_webhook_secret
    if not secret:
        raise HTTPException(503, "HCP_STRIPE_WEBHOOK_SECRET is not set: webhooks are not accepted")
    payload = await request.body()
    try:
        stripe.Webhook.construct_event(payload, stripe_signature or "", secret)
    except stripe.SignatureVerificationError as err:
        raise HTTPException(400, f"signature verification failed: {err.user_message or err}") from None
    except ValueError as err:
        raise HTTPException(400, f"payload is not a Stripe event: {err}") from None
    plain = json.loads(payload)  # the verified bytes, as plain dicts
    from starlette.concurrency import run_in_threadpool

    def apply() -> tuple[str, bool]:
        with request.app.state.pool.connection() as conn:
            try:
                return handle_event(conn, plain)
            except psycopg.errors.UniqueViolation:  # the same event, delivered twice at once
                row = conn.execute(
                    "select outcome from billing.stripe_events where event_id = %s", (plain["id"],)
                ).fetchone()
                return row[0], True

    outcome, duplicate = await run_in_threadpool(apply)
    return {"event_id": plain["id"], "outcome": outcome, "duplicate": duplicate}
