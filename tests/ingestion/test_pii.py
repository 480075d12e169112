"""Customer PII: ciphertext only in raw.customers, readable again with the key."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest
from cryptography.exceptions import InvalidTag

from core.pii import MissingKeyError, PiiKey, create_key, decrypt_pii, key_id, load_key
from core.settings import get_settings
from ingestion.loader import ingest_file
from tests.ingestion.conftest import FIXTURES

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own


def test_pii_is_encrypted_and_decrypts_with_the_key(raw):
    result = ingest_file(raw, "customers", FIXTURES / "customers.csv")
    assert result.loaded == 2
    rows = raw.execute(
        "select customer_id, pii_encrypted, pii_key_id, tax_rate from raw.customers order by 1"
    ).fetchall()
    key = load_key()
    for _customer_id, blob, stored_key_id, _ in rows:
        text = bytes(blob).decode()
        assert "acme" not in text.lower() and "US-12" not in text and "Main St" not in text
        envelope = json.loads(text)
        assert envelope["alg"] == "AES-256-GCM" and envelope["key_id"] == stored_key_id == key.key_id
    pii = decrypt_pii(rows[0][1], "cus-001", key)
    assert pii == {
        "name": "Acme AI Inc",
        "email": "billing@acme.example",
        "billing_address": "1 Main St, Austin, TX",
        "tax_id": "US-12-3456789",
    }
    with pytest.raises(InvalidTag):
        decrypt_pii(rows[0][1], "cus-002", key)  # bound to its customer
    with pytest.raises(InvalidTag):
        decrypt_pii(rows[0][1], "cus-001", PiiKey(b"x" * 32, key_id(b"x" * 32)))
    everything = " ".join(map(str, raw.execute("select * from raw.customers").fetchall()))
    assert "billing@acme.example" not in everything


def test_reloading_customers_skips_them_despite_fresh_nonces(raw):
    ingest_file(raw, "customers", FIXTURES / "customers.csv")
    again = ingest_file(raw, "customers", FIXTURES / "customers.csv")
    assert (again.loaded, again.duplicates_skipped) == (0, 2)


def test_missing_key_stops_with_a_clear_error_and_creating_one_is_explicit(tmp_path, monkeypatch):
    monkeypatch.setenv("HCP_HOME", str(tmp_path))
    monkeypatch.delenv("HCP_PII_KEY", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(MissingKeyError, match="hcp keys create"):
            load_key()
        path = tmp_path / "secrets" / "pii.key"
        assert not path.exists()  # never created silently
        first = create_key()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert len(base64.b64decode(path.read_text())) == 32
        assert load_key() == first and len(first.key_id) == 8
        with pytest.raises(FileExistsError):
            create_key()  # an existing key is never overwritten
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
