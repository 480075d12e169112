"""Stripe sync against the local fake server: retries after a dropped connection, a 500 and a
429 reuse the idempotency key, so the server ends with exactly one object per intended charge."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing import invoices as inv
from billing.stripe_sync import (
    DryRunGateway,
    LiveGateway,
    StripeSyncError,
    sync_invoice,
    sync_period,
)
from kernels.billing import to_cents
from tests.billing import factories as f
from tests.billing.fake_stripe import FakeStripe

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731


def live(server: FakeStripe, **options) -> LiveGateway:
    """The live gateway on the fake server, with short 429 backoffs."""
    return LiveGateway("sk_test_fake", server.url, **{"rate_limit_backoff_s": 0.01, **options})


@pytest.fixture()
def finalized(conn):
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
        result = sync_invoice(conn, finalized, live(server))
        outcomes = [outcome for _, _, outcome in server.requests]
        assert {"dropped", "500", "429", "replayed"} <= set(outcomes)
        _assert_one_each(server, conn, finalized)
        assert result["total_cents"] == server.objects["invoice"][result["stripe_invoice"]]["total"]
        # a whole second sync sends nothing new and audits nothing
        before = len(server.requests)
        audited = conn.execute("select count(*) from ops.audit_log where action = 'stripe.push'").fetchone()[
            0
        ]
        sync_period(conn, "2026-10", LiveGateway("sk_test_fake", server.url))
        assert len(server.requests) == before
        assert sync_invoice(conn, finalized, LiveGateway("sk_test_fake", server.url))["pushed"] is False
        again = conn.execute("select count(*) from ops.audit_log where action = 'stripe.push'").fetchone()[0]
        assert again == audited >= 1
        # even with our local record lost, the intents make a re-push look the objects up by our
        # metadata (or replay an idempotency key): nothing is executed twice
        conn.execute("truncate billing.stripe_objects")
        sync_invoice(conn, finalized, live(server))
        _assert_one_each(server, conn, finalized)
        assert all(o in ("get", "replayed") for _, _, o in server.requests[before:])
    audit = conn.execute("select count(*) from ops.audit_log where action = 'stripe.push'").fetchone()[0]
    assert audit >= 1


def test_stripe_library_retries_transient_failures_with_our_key(conn, finalized):
    """A 500 and a dropped connection are retried by stripe-python itself (max_network_retries),
    with the same idempotency key; with the library's retries off, one 500 ends the step."""
    with FakeStripe() as server:
        server.inject("/v1/customers", "500")
        server.inject("/v1/customers", "drop_before")
        sync_invoice(conn, finalized, live(server, max_network_retries=2))
        customers = [(key, outcome) for path, key, outcome in server.requests if path == "/v1/customers"]
        assert [outcome for _, outcome in customers] == ["500", "dropped", "executed"]
        assert len({key for key, _ in customers}) == 1 and customers[0][0].startswith("hcp-")
        _assert_one_each(server, conn, finalized)
    conn.execute("truncate billing.stripe_objects, billing.stripe_intents")
    with FakeStripe() as server:
        server.inject("/v1/customers", "500")
        with pytest.raises(StripeSyncError, match="gave up"):
            sync_invoice(conn, finalized, live(server, max_network_retries=0))
        assert [o for p, _, o in server.requests if p == "/v1/customers"] == ["500"]


def test_sync_gives_up_after_repeated_failures(conn, finalized):
    with FakeStripe() as server:
        for _ in range(3):
            server.inject("/v1/customers", "500")
        with pytest.raises(StripeSyncError, match="gave up"):
            sync_invoice(conn, finalized, live(server, max_network_retries=2))
        assert server.objects["customer"] == {}
        # the next run succeeds and still creates exactly one of each
        sync_invoice(conn, finalized, live(server))
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


# --- credit notes ----------------------------------------------------------------------------------


def _revise_card(conn, card_id: str, price: str) -> None:
    """A corrected price for a card version already billed (a newer load of the same version)."""
    conn.execute(
        """insert into raw.rate_cards (rate_card_id, customer_id, gpu_model, workload_type, price_usd_per_gpu_hour,
               min_increment_seconds, effective_from, load_id)
           select rate_card_id, customer_id, gpu_model, workload_type, %s, min_increment_seconds, effective_from,
                  load_id + 1
           from raw.rate_cards where rate_card_id = %s order by load_id desc limit 1""",
        (Decimal(price), card_id),
    )


@pytest.fixture()
def credited(conn, finalized):
    """Two credit notes on the finalized invoice: price revisions of both cards, one after the other."""
    ids = []
    for card_id, price in (("rc-1", "2.29"), ("rc-2", "1.89")):
        _revise_card(conn, card_id, price)
        number = inv.correct_invoice(conn, finalized, f"price revision of {card_id}", now=T(2026, 11, 6))
        ids.append(
            conn.execute(
                "select invoice_id from billing.invoices where invoice_number = %s", (number,)
            ).fetchone()[0]
        )
    kinds = conn.execute("select kind from billing.invoices where invoice_id = any(%s)", (ids,)).fetchall()
    assert kinds == [("credit_note",), ("credit_note",)]
    return ids


def _note_totals(conn, note_ids: list[int]) -> dict[str, int]:
    """Our credit notes by number, as the cents Stripe should credit."""
    return {
        number: -to_cents(total)
        for number, total in conn.execute(
            "select invoice_number, total_usd from billing.invoices where invoice_id = any(%s)", (note_ids,)
        )
    }


def _assert_one_credit_note_each(server: FakeStripe, conn, note_ids: list[int]) -> None:
    expected = _note_totals(conn, note_ids)
    pushed = {c["metadata"]["hcp_credit_note_number"]: c for c in server.objects["credit_note"].values()}
    assert len(server.objects["credit_note"]) == len(expected)
    assert {number: c["total"] for number, c in pushed.items()} == expected
    [stripe_invoice] = server.objects["invoice"]
    assert {c["invoice"] for c in pushed.values()} == {stripe_invoice}


def test_credit_notes_survive_drop_500_and_429(conn, finalized, credited):
    with FakeStripe() as server:
        server.inject("/v1/credit_notes", "drop_after")  # created, but the answer is lost
        server.inject("/v1/credit_notes", "500")
        server.inject("/v1/credit_notes", "429")
        results = sync_period(conn, "2026-10", LiveGateway("sk_test_fake", server.url))
        notes = [r for r in results if r.get("kind") == "credit_note"]
        assert [r["pushed"] for r in notes] == [True, True]
        outcomes = [o for path, _, o in server.requests if path == "/v1/credit_notes"]
        assert outcomes[:4] == ["executed", "500", "429", "replayed"]
        _assert_one_credit_note_each(server, conn, credited)
        _assert_one_each(server, conn, finalized)  # the invoice itself went once, before its notes
        keys = {k for path, k, _ in server.requests if path == "/v1/credit_notes"}
        assert len(keys) == 2 and all(k.startswith("hcp-creditnote-CN-") for k in keys)
        # each Stripe line names the line of ours it credits
        lines = [line for c in server.objects["credit_note"].values() for line in c["lines"]]
        our_lines = {
            f"line-{i}"
            for (i,) in conn.execute(
                "select line_id from billing.invoice_lines where invoice_id = any(%s)", (credited,)
            )
        }
        assert {line["metadata"]["hcp_item"] for line in lines} == our_lines | {"tax"}
        # a second sync sends nothing; with our records lost, a re-push is only replays
        before = len(server.requests)
        sync_period(conn, "2026-10", LiveGateway("sk_test_fake", server.url))
        assert len(server.requests) == before
        conn.execute("truncate billing.stripe_objects")
        sync_period(conn, "2026-10", LiveGateway("sk_test_fake", server.url))
        assert {o for _, _, o in server.requests[before:]} <= {"get", "replayed"}
        _assert_one_credit_note_each(server, conn, credited)
    audited = conn.execute(
        "select count(distinct entity) from ops.audit_log where action = 'stripe.push' and entity = any(%s)",
        ([f"billing.invoices/{i}" for i in credited],),
    ).fetchone()[0]
    assert audited == 2


def test_credit_note_gives_up_then_pushes_once(conn, finalized, credited):
    with FakeStripe() as server:
        gateway = live(server)
        sync_invoice(conn, finalized, gateway)
        for _ in range(3):
            server.inject("/v1/credit_notes", "429")
        with pytest.raises(StripeSyncError, match="gave up"):
            sync_invoice(conn, credited[0], live(server, max_network_retries=2))
        assert server.objects["credit_note"] == {}
        for note_id in credited:
            sync_invoice(conn, note_id, gateway)
        _assert_one_credit_note_each(server, conn, credited)


def test_credit_note_with_a_shrinking_discount_credits_its_total(conn, finalized):
    # a discount granted late (credit note 1: the discount alone), then a lower price: the discount
    # shrinks with the subtotal, so the second note credits one amount, not lines
    conn.execute("insert into billing.discounts values ('c1', 10, '2026-01-01')")
    first = inv.correct_invoice(conn, finalized, "discount granted", now=T(2026, 11, 6))
    _revise_card(conn, "rc-1", "1.99")
    second = inv.correct_invoice(conn, finalized, "price revision", now=T(2026, 11, 7))
    ids = [
        conn.execute("select invoice_id from billing.invoices where invoice_number = %s", (n,)).fetchone()[0]
        for n in (first, second)
    ]
    with FakeStripe() as server:
        server.inject("/v1/credit_notes", "500")
        sync_period(conn, None, LiveGateway("sk_test_fake", server.url), actor="test")
        _assert_one_credit_note_each(server, conn, ids)
        by_number = {
            c["metadata"]["hcp_credit_note_number"]: c for c in server.objects["credit_note"].values()
        }
        assert [line["metadata"]["hcp_item"] for line in by_number[first]["lines"]] == ["discount", "tax"]
        assert "lines" not in by_number[second] and int(by_number[second]["amount"]) > 0


def test_credit_note_dry_run_writes_requests(conn, finalized, credited, tmp_path):
    gateway = DryRunGateway(tmp_path / "dry.jsonl")
    sync_period(conn, "2026-10", gateway)
    sent = [r for r in gateway.requests if r["resource"] == "credit_note"]
    assert len(sent) == 2
    assert {r["idempotency_key"] for r in sent} == {
        f"hcp-creditnote-{n}" for n in _note_totals(conn, credited)
    }
    credited_cents = {
        r["params"]["metadata"]["hcp_credit_note_number"]: sum(
            line["unit_amount"] for line in r["params"]["lines"]
        )
        for r in sent
    }
    assert credited_cents == _note_totals(conn, credited)
    assert all(r["params"]["invoice"].startswith("dry_invoice_") for r in sent)
    assert conn.execute("select count(*) from billing.stripe_objects").fetchone()[0] == 0
    assert len((tmp_path / "dry.jsonl").read_text().splitlines()) == len(gateway.requests)
