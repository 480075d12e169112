"""Customer data requests: PII export, erasure, key rotation, and the invoices' frozen bill-to copy.

PII (name, email, billing address, tax id) is encrypted by :mod:`core.pii` (AES-256-GCM, the
customer id as associated data); this module reuses its functions and never logs plaintext.
Erasure overwrites the customer's ciphertext in raw.customers with an empty record; each finalized
invoice keeps its own encrypted copy of what the law requires on an invoice (name, billing
address, tax id), so invoices stay valid after erasure.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from core.audit import write_audit
from core.pii import PiiKey, decrypt_pii, encrypt_pii, key_for, load_key, open_totp_secret, seal_totp_secrets

PII_FIELDS = ("name", "email", "billing_address", "tax_id")
INVOICE_FIELDS = ("name", "billing_address", "tax_id")  # what an invoice must show
ERASED = dict.fromkeys(PII_FIELDS)


class PiiError(RuntimeError):
    """A PII request could not be served; the message names the customer."""


def _key_for(key_id_: str) -> PiiKey:
    try:
        return key_for(key_id_)
    except KeyError as err:
        raise PiiError(err.args[0]) from None


def customer_pii(conn: psycopg.Connection, customer_id: str) -> dict[str, str | None]:
    """The decrypted PII of a customer's latest record."""
    row = conn.execute(
        """select pii_encrypted, pii_key_id from raw.customers where customer_id = %s
           order by load_id desc limit 1""",
        (customer_id,),
    ).fetchone()
    if row is None:
        raise PiiError(f"customer {customer_id} does not exist")
    return decrypt_pii(row[0], customer_id, _key_for(row[1]))


def frozen_bill_to(conn: psycopg.Connection, customer_id: str) -> tuple[bytes | None, str | None]:
    """An invoice's own encrypted copy of the customer's name, billing address and tax id."""
    try:
        fields = customer_pii(conn, customer_id)
    except PiiError:
        return None, None
    key = load_key()
    return encrypt_pii({k: fields.get(k) for k in INVOICE_FIELDS}, customer_id, key), key.key_id


def invoice_bill_to(conn: psycopg.Connection, invoice_id: int) -> dict[str, str | None]:
    """The decrypted bill-to block frozen on a finalized invoice (empty for drafts)."""
    row = conn.execute(
        "select customer_id, bill_to_encrypted, bill_to_key_id from billing.invoices where invoice_id = %s",
        (invoice_id,),
    ).fetchone()
    if row is None or row[1] is None:
        return {}
    return decrypt_pii(row[1], row[0], _key_for(row[2]))


def export_customer(conn: psycopg.Connection, customer_id: str, actor: str | None = None) -> dict:
    """Everything held about a customer (data-subject access request), PII decrypted."""
    record = conn.execute(
        "select customer_id, timezone, tax_rate, customer_type from staging.stg_raw__customers where customer_id = %s",
        (customer_id,),
    ).fetchone()
    if record is None:
        raise PiiError(f"customer {customer_id} does not exist")
    invoices = [
        {"invoice_number": r[0], "kind": r[1], "period": r[2], "status": r[3], "total_usd": str(r[4])}
        for r in conn.execute(
            """select invoice_number, kind, period, status, total_usd from billing.invoices
               where customer_id = %s order by invoice_id""",
            (customer_id,),
        )
    ]
    erased = conn.execute("select erased_at from billing.pii_erasures where customer_id = %s", (customer_id,))
    erased_at = erased.fetchone()
    payload = {
        "customer_id": record[0],
        "timezone": record[1],
        "tax_rate": str(record[2]),
        "customer_type": record[3],
        "pii": customer_pii(conn, customer_id),
        "erased_at": erased_at[0].isoformat() if erased_at else None,
        "invoices": invoices,
        "budgets": [
            {"monthly_budget_usd": str(r[0]), "effective_from": r[1].isoformat()}
            for r in conn.execute(
                "select monthly_budget_usd, effective_from from billing.budgets where customer_id = %s",
                (customer_id,),
            )
        ],
        "exported_at": datetime.now(UTC).isoformat(),
    }
    write_audit(conn, "customer.export", f"customer/{customer_id}", None, {"fields": list(PII_FIELDS)}, actor)
    return payload


def erase_customer(conn: psycopg.Connection, customer_id: str, actor: str | None = None) -> int:
    """Erase a customer's PII (right to erasure): every stored record of it becomes an empty,
    re-encrypted record, its quarantined rows are redacted and its rows leave the landing copies
    (customers files kept after load or waiting in the landing folder). Finalized invoices keep
    their frozen bill-to copy. Returns rows erased."""
    key = load_key()
    with conn.transaction():
        rows = conn.execute(
            "select load_id from raw.customers where customer_id = %s for update", (customer_id,)
        ).fetchall()
        if not rows:
            raise PiiError(f"customer {customer_id} does not exist")
        conn.execute(
            "update raw.customers set pii_encrypted = %s, pii_key_id = %s where customer_id = %s",
            (encrypt_pii(ERASED, customer_id, key), key.key_id, customer_id),
        )
        _erase_quarantine(conn, customer_id)
        files = _erase_landing_copies(conn, customer_id)
        # Drafts are rebuilt and re-frozen at finalization; only finalized copies are kept.
        conn.execute(
            """insert into billing.pii_erasures (customer_id, actor) values (%s, %s)
               on conflict (customer_id) do update set erased_at = now(), actor = excluded.actor""",
            (customer_id, actor or "unknown"),
        )
        write_audit(
            conn,
            "customer.erase",
            f"customer/{customer_id}",
            None,
            {"rows": len(rows), "files": files},
            actor,
        )
    return len(rows)


def _erase_landing_copies(conn: psycopg.Connection, customer_id: str) -> list[str]:
    """Remove the customer's rows from the landing copies (:mod:`billing.landing`); returns the
    files changed. Inside the erasure's transaction: a file that cannot be rewritten aborts it."""
    from billing.landing import LandingCopyError, drop_customer_rows, landing_copies
    from core.settings import get_settings

    recorded = [
        r[0] for r in conn.execute("select distinct source_file from raw.load_log where kind = 'customers'")
    ]
    try:
        return [
            str(path)
            for path in landing_copies(get_settings().landing, recorded)
            if drop_customer_rows(path, customer_id)
        ]
    except (LandingCopyError, OSError) as err:
        raise PiiError(f"customer {customer_id}: landing copy not erased: {err}") from None


def _erase_quarantine(conn: psycopg.Connection, customer_id: str) -> int:
    """Quarantined customer rows of ``customer_id`` lose every field but the id (also rows
    quarantined before PII redaction existed)."""
    import json

    erased = 0
    rows = conn.execute(
        "select quarantine_id, raw_record from raw.quarantine where kind = 'customers' and raw_record like %s",
        (f"%{customer_id}%",),
    ).fetchall()
    for quarantine_id, raw in rows:
        try:
            record = json.loads(raw)
        except (TypeError, ValueError):
            record = None
        if isinstance(record, dict) and record.get("customer_id") != customer_id:
            continue
        conn.execute(
            "update raw.quarantine set raw_record = %s where quarantine_id = %s",
            (json.dumps({"customer_id": customer_id, "erased": True}), quarantine_id),
        )
        erased += 1
    return erased


# (query of id, owner, envelope, key id; what the id names; how an envelope is opened)
_SEALED = (
    (
        "select customer_id, customer_id, pii_encrypted, pii_key_id from raw.customers",
        "customer {}",
        lambda blob, owner, key: decrypt_pii(blob, owner, key),
    ),
    (
        "select invoice_id, customer_id, bill_to_encrypted, bill_to_key_id from billing.invoices "
        "where bill_to_encrypted is not null",
        "invoice {}: bill-to",
        lambda blob, owner, key: decrypt_pii(blob, owner, key),
    ),
    (
        "select username, username, totp_secret_encrypted, totp_key_id from ops.app_users "
        "where totp_secret_encrypted is not null",
        "user {}: TOTP secret",
        lambda blob, owner, key: open_totp_secret(owner, blob, key.key_id),
    ),
)


def _verify_all(conn: psycopg.Connection, key) -> None:
    for query, label, unseal in _SEALED:
        for ident, owner, blob, kid in conn.execute(query).fetchall():
            if kid != key.key_id:
                raise PiiError(f"{label.format(ident)} still under key {kid} after rotation")
            unseal(blob, owner, key)


def rotate_key(conn: psycopg.Connection, actor: str | None = None) -> dict[str, int]:
    """Re-encrypt every customer record, frozen bill-to copy and TOTP secret under the current key
    (``HCP_PII_KEY``); records under retired keys (``HCP_PII_OLD_KEYS``) are decrypted with those.
    Returns how many records of each kind were re-encrypted."""
    key = load_key()
    counts = {"customers": 0, "invoices": 0}
    with conn.transaction():
        # the loader's lock on raw.customers: no load writes rows under the old key meanwhile
        conn.execute("select pg_advisory_xact_lock(hashtext('hcp-ingest:raw.customers'))")
        customers = conn.execute(
            """select ctid::text, customer_id, pii_encrypted, pii_key_id from raw.customers
               where pii_key_id <> %s for update""",
            (key.key_id,),
        ).fetchall()
        for ctid, customer_id, blob, kid in customers:
            fields = decrypt_pii(blob, customer_id, _key_for(kid))
            conn.execute(
                "update raw.customers set pii_encrypted = %s, pii_key_id = %s where ctid = %s::tid",
                (encrypt_pii(fields, customer_id, key), key.key_id, ctid),
            )
            counts["customers"] += 1
        invoices = conn.execute(
            """select invoice_id, customer_id, bill_to_encrypted, bill_to_key_id from billing.invoices
               where bill_to_encrypted is not null and bill_to_key_id <> %s for update""",
            (key.key_id,),
        ).fetchall()
        for invoice_id, customer_id, blob, kid in invoices:
            fields = decrypt_pii(blob, customer_id, _key_for(kid))
            conn.execute(
                "update billing.invoices set bill_to_encrypted = %s, bill_to_key_id = %s where invoice_id = %s",
                (encrypt_pii(fields, customer_id, key), key.key_id, invoice_id),
            )
            counts["invoices"] += 1
        counts["totp_secrets"] = seal_totp_secrets(conn, key)
        _verify_all(conn, key)  # every row decrypts under the new key, or the rotation rolls back
        write_audit(conn, "pii.rotate_key", "raw.customers", None, {"key_id": key.key_id, **counts}, actor)
    return counts
