"""Stripe sync against the local fake server: retries after a dropped connection, a 500 and a
429 reuse the idempotency key, so the server ends with exactly one object per intended charge."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kernels.billing import to_cents
from orchestration.billing import invoices as inv
from orchestration.billing.stripe_sync import (
    DryRunGateway,
    LiveGateway,
    StripeSyncError,
    sync_invoice,
    sync_period,
)
from tests.billing import factories as f
from tests.billing.fake_stripe import FakeStripe

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
FAST = {"backoff_s": 0.01}


@pytest.fixture()
def finalized(conn):
    f.reset(conn)
    f.customer(conn, "c1", tax="0.0825")
    devices = f.gpus(conn, "h100", f.H100, 2)
    f.card(conn, "rc-1", None, f.H100, "inference", "2.49", 1, T(2026, 1, 1))
    f.card(conn, "rc-2", None, f.H100, "batch", "1.99", 60, T(2026, 1, 1))
    f.run(conn, "w1", "c1", T(2026, 10, 5, 10), T(2026, 10, 5, 12, 30), devices)
    f.run(conn, "w2", "c1", T(2026, 10, 6), T(2026, 10, 6, 0, 10, 30), devices[:1], wtype="batch")
    f.data_until(conn, T(2026, 11, 2))
    f.build_usage(conn)
    [draft] = inv.build_drafts(conn, "2026-10")
    inv.finalize_invoice(conn, draft.invoice_id, now=T(2026, 11, 5))
    return draft.invoice_id


def _assert_one_each(server: FakeStripe, conn, invoice_id: int) -> None:
    total, lines = conn.execute(
        """select total_usd, (select count(*) from billing.invoice_lines where invoice_id = %s)
           from billing.invoices where invoice_id = %s""",
        (invoice_id, invoice_id),
    ).fetchone()
    assert len(server.objects["customer"]) == 1
    assert len(server.objects["invoice"]) == 1
    assert len(server.objects["invoiceitem"]) == lines + 1  # the lines and the tax item
    [stripe_invoice] = server.objects["invoice"].values()
    assert stripe_invoice["status"] == "open"
    assert stripe_invoice["total"] == to_cents(total)


def test_sync_survives_drop_500_and_429(conn, finalized):
    with FakeStripe() as server:
        server.inject("/v1/customers", "drop_after")  # created, but the answer is lost
        server.inject("/v1/invoices", "500")
        server.inject("/v1/invoiceitems", "429")
        server.inject("/v1/invoiceitems", "drop_after")
        server.inject("/v1/invoices/", "drop_before")  # the finalize call
        result = sync_invoice(conn, finalized, LiveGateway("sk_test_fake", server.url), **FAST)
        outcomes = [outcome for _, _, outcome in server.requests]
        assert {"dropped", "500", "429", "replayed"} <= set(outcomes)
        _assert_one_each(server, conn, finalized)
        assert result["total_cents"] == server.objects["invoice"][result["stripe_invoice"]]["total"]
        # a whole second sync sends nothing new
        before = len(server.requests)
        sync_period(conn, "2026-10", LiveGateway("sk_test_fake", server.url))
        assert len(server.requests) == before
        # even with our local record lost, the idempotency keys make a re-push a replay
        conn.execute("truncate billing.stripe_objects")
        sync_invoice(conn, finalized, LiveGateway("sk_test_fake", server.url), **FAST)
        _assert_one_each(server, conn, finalized)
        assert all(o in ("replayed",) for _, _, o in server.requests[before:])
    audit = conn.execute("select count(*) from ops.audit_log where action = 'stripe.push'").fetchone()[0]
    assert audit >= 1


def test_sync_gives_up_after_repeated_failures(conn, finalized):
    with FakeStripe() as server:
        for _ in range(3):
            server.inject("/v1/customers", "500")
        with pytest.raises(StripeSyncError, match="gave up"):
            sync_invoice(conn, finalized, LiveGateway("sk_test_fake", server.url), attempts=3, backoff_s=0.01)
        assert server.objects["customer"] == {}
        # the next run succeeds and still creates exactly one of each
        sync_invoice(conn, finalized, LiveGateway("sk_test_fake", server.url), **FAST)
        _assert_one_each(server, conn, finalized)


def test_dry_run_writes_requests(conn, finalized, tmp_path):
    gateway = DryRunGateway(tmp_path / "dry.jsonl")
    result = sync_invoice(conn, finalized, gateway)
    assert result["dry_run"] is True
    lines = (tmp_path / "dry.jsonl").read_text().splitlines()
    assert len(lines) == len(gateway.requests) >= 4
    assert conn.execute("select count(*) from billing.stripe_objects").fetchone()[0] == 0
    amounts = [r["params"]["amount"] for r in gateway.requests if r["resource"] == "invoiceitem"]
    total = conn.execute("select total_usd from billing.invoices").fetchone()[0]
    assert sum(amounts) == to_cents(Decimal(total))


def test_drafts_are_not_pushed(conn, finalized):
    f.customer(conn, "c2")
    f.run(conn, "w9", "c2", T(2026, 10, 8), T(2026, 10, 8, 1), ["h100-gpu0"])
    f.build_usage(conn)
    inv.build_drafts(conn, "2026-10")
    draft = conn.execute("select invoice_id from billing.invoices where status = 'draft'").fetchone()[0]
    with pytest.raises(StripeSyncError, match="draft"):
        sync_invoice(conn, draft, DryRunGateway(__import__("pathlib").Path("/dev/null")))
