"""Attack 9: a customer row rejected into quarantine must not keep its PII in clear, and erasing
the customer leaves no plaintext PII anywhere in the database."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from billing.customers import erase_customer
from core.db import scratch_database
from ingestion.loader import ingest_file

PII = ("Zebulon Quarantinedname", "zeb@leaky.example", "77 Hidden Lane, Secretville", "TAX-99-1234567")


@pytest.fixture()
def raw_db(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, "hcp_sec_pii") as url:
        yield url


def _plaintext_hits(conn: psycopg.Connection) -> list[str]:
    """Tables of any schema (but the catalogs) whose rows contain one of the PII strings."""
    tables = conn.execute(
        "select schemaname, tablename from pg_tables "
        "where schemaname not in ('pg_catalog', 'information_schema')"
    ).fetchall()
    hits = []
    for schema, table in tables:
        for value in PII:
            query = sql.SQL("select count(*) from {} as t where t::text ilike %s").format(
                sql.Identifier(schema, table)
            )
            if conn.execute(query, (f"%{value}%",)).fetchone()[0]:
                hits.append(f"{schema}.{table}: {value}")
    return hits


def test_quarantined_customer_keeps_no_plaintext_pii_and_erase_leaves_none(raw_db, tmp_path):
    name, email, address, tax_id = PII
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,name,email,billing_address,tax_id,timezone,tax_rate,customer_type\n"
        f'cus-zeb,{name},{email},"{address}",{tax_id},Mars/Olympus_Mons,0.05,inference\n'
        f'cus-zeb,{name},{email},"{address}",{tax_id},America/Chicago,0.05,inference\n'
    )
    result = ingest_file(raw_db, "customers", path)
    assert (result.loaded, result.quarantined) == (1, 1)
    with psycopg.connect(raw_db, autocommit=True) as conn:
        reason = conn.execute("select field, reason, raw_record from raw.quarantine").fetchone()
        assert reason[0] == "timezone" and "cus-zeb" in reason[2]  # still findable and explained
        assert _plaintext_hits(conn) == []
        erase_customer(conn, "cus-zeb", actor="test")
        assert _plaintext_hits(conn) == []
        assert "cus-zeb" in conn.execute("select raw_record from raw.quarantine").fetchone()[0]
