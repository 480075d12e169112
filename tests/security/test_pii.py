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


def test_dry_run_files_redact_pii_and_reports_are_private(conn, tmp_path):
    import os

    from billing.reports import invoice_csv
    from billing.stripe_sync import DryRunGateway

    os.umask(0o022)  # a permissive umask, as on most machines
    dry = DryRunGateway(tmp_path / "dry" / "run.jsonl")
    dry.create("customer", {"name": PII[0], "email": PII[1], "metadata": {"hcp_customer_id": "c"}}, "k-1")
    text = dry.path.read_text()
    assert PII[0] not in text and PII[1] not in text and "hcp_customer_id" in text
    assert dry.path.stat().st_mode & 0o777 == 0o600
    with conn.transaction():
        invoice_id = conn.execute(
            """insert into billing.invoices (customer_id, period, period_start, period_end, timezone)
               values ('sec-files', '2031-02', '2031-02-01', '2031-03-01', 'UTC') returning invoice_id"""
        ).fetchone()[0]
    try:
        path = invoice_csv(conn, invoice_id, tmp_path / "reports")
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        conn.execute("delete from billing.invoices where invoice_id = %s", (invoice_id,))


def test_erase_redacts_the_landing_copies(raw_db, tmp_path, monkeypatch, request):
    """Landing copies are the customer files left in place after their load: those recorded in
    raw.load_log and any customers file in the landing folder. Erasure removes the customer's rows
    from each (others stay, the file stays private) and a reload brings no PII back."""
    from core.settings import get_settings

    name, email, address, tax_id = PII
    monkeypatch.setenv("HCP_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()  # settings are read once per process: this test's landing folder
    request.addfinalizer(get_settings.cache_clear)  # and the usual one again after it
    header = "customer_id,name,email,billing_address,tax_id,timezone,tax_rate,customer_type\n"
    other = "cus-keep,Keep Co,keep@ok.example,1 Plain St,TAX-1,UTC,0.05,inference\n"
    zeb = f'cus-zeb,{name},{email},"{address}",{tax_id},America/Chicago,0.05,inference\n'
    loaded = tmp_path / "incoming" / "customers.csv"
    loaded.parent.mkdir()
    loaded.write_text(header + zeb + other)
    landing_copy = tmp_path / "home" / "landing" / "reference" / "customers_2026.csv"
    landing_copy.parent.mkdir(parents=True)
    landing_copy.write_text(header + other + zeb)  # not loaded yet: still a copy of their PII
    landing_copy.chmod(0o600)
    ingest_file(raw_db, "customers", loaded)
    with psycopg.connect(raw_db, autocommit=True) as conn:
        erase_customer(conn, "cus-zeb", actor="test")
    for path in (loaded, landing_copy):
        text = path.read_text()
        assert not [value for value in PII if value in text], path
        assert "cus-keep,Keep Co,keep@ok.example" in text
    assert landing_copy.stat().st_mode & 0o777 == 0o600
    ingest_file(raw_db, "customers", landing_copy)
    with psycopg.connect(raw_db, autocommit=True) as conn:
        assert _plaintext_hits(conn) == []
