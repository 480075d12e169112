"""Attack 12: a crash between Stripe's answer and our local record, then a retry after Stripe has
forgotten the idempotency key (24 h), must not create a second invoice."""

from __future__ import annotations

import pytest

from billing.stripe_sync import LiveGateway, StripeSyncError, sync_invoice
from tests.billing.fake_stripe import FakeStripe
from tests.billing.test_stripe_sync import _assert_one_each, finalized  # noqa: F401 - fixture

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own


@pytest.mark.parametrize("lost", ["/v1/customers", "/v1/invoices", "/v1/invoiceitems"])
def test_crash_after_the_call_then_retry_after_key_expiry_does_not_duplicate(conn, finalized, lost):  # noqa: F811
    with FakeStripe() as server:
        server.inject(lost, "drop_after")  # Stripe created it; our process died before recording it
        with pytest.raises(StripeSyncError):
            sync_invoice(conn, finalized, LiveGateway("sk_test_fake", server.url, max_network_retries=0))
        server.expire_keys()  # a day later
        sync_invoice(conn, finalized, LiveGateway("sk_test_fake", server.url, max_network_retries=0))
        _assert_one_each(server, conn, finalized)
        sync_invoice(conn, finalized, LiveGateway("sk_test_fake", server.url, max_network_retries=0))
        _assert_one_each(server, conn, finalized)
