"""Small builders of raw rows for billing tests (synthetic, hand-checkable data)."""

from __future__ import annotations

import itertools
import os
import tempfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import psycopg

from core.pii import encrypt_pii, load_key
from ingestion.bulk import ensure_day_partitions

_event_ids = itertools.count(1)
H100 = "NVIDIA H100 80GB HBM3"
L40S = "NVIDIA L40S"


def customer(
    conn, cid: str, tz: str = "UTC", tax: str = "0", kind: str = "inference", name: str | None = None
) -> None:
    pii = {
        "name": name or f"Company {cid}",
        "email": f"billing@{cid}.example",
        "billing_address": f"1 Main St, Austin, TX ({cid})",
        "tax_id": f"12-{abs(hash(cid)) % 10_000_000:07d}",
    }
    key = load_key()
    conn.execute(
        """insert into raw.customers (customer_id, pii_encrypted, pii_key_id, timezone, tax_rate, customer_type,
               load_id) values (%s, %s, %s, %s, %s, %s, 1)""",
        (cid, encrypt_pii(pii, cid, key), key.key_id, tz, Decimal(tax), kind),
    )


def gpus(conn, pool: str, model: str, n: int, facility: str = "fac-1", rack: str = "r1") -> list[str]:
    ids = [f"{pool}-gpu{i}" for i in range(n)]
    for device_id in ids:
        conn.execute(
            """insert into raw.devices (device_id, facility_id, kind, model, gpu_pool, nominal_power_kw, rack, load_id)
               values (%s, %s, 'gpu', %s, %s, 0.7, %s, 1)""",
            (device_id, facility, model, pool, rack),
        )
    return ids


def card(conn, rid, cid, model, wtype, price, inc, since: datetime) -> None:
    conn.execute(
        """insert into raw.rate_cards (rate_card_id, customer_id, gpu_model, workload_type, price_usd_per_gpu_hour,
               min_increment_seconds, effective_from, load_id) values (%s, %s, %s, %s, %s, %s, %s, 1)""",
        (rid, cid, model, wtype, Decimal(price), inc, since),
    )


def event(
    conn, wid, cid, kind, at: datetime, wtype="inference", pool="h100", devices=(), load_id=1, eid=None
):
    eid = eid or f"ev-{next(_event_ids):08d}"
    conn.execute(
        """insert into raw.workload_events (event_id, workload_id, customer_id, event_type, event_at, workload_type,
               gpu_pool, gpus_requested, device_ids, load_id) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (eid, wid, cid, kind, at, wtype, pool, len(devices) or 1, list(devices), load_id),
    )
    return eid


def run(conn, wid, cid, start: datetime, end: datetime, devices, wtype="inference", pool="h100") -> None:
    """A workload submitted, started at ``start`` on ``devices`` and completed at ``end``."""
    event(conn, wid, cid, "submitted", start, wtype, pool)
    event(conn, wid, cid, "started", start, wtype, pool, devices)
    event(conn, wid, cid, "completed", end, wtype, pool)


def data_until(conn, at: datetime) -> None:
    """A telemetry sample marking that data reaches ``at`` (usage completeness)."""
    ensure_day_partitions(conn, "device_telemetry", [at])
    conn.execute(
        "insert into raw.device_telemetry (device_id, ts, power_kw, load_id) values ('marker', %s, 0, 1)",
        (at,),
    )


_DBT_TARGET = Path(tempfile.mkdtemp(prefix="hcp-billing-dbt-"))


def build_usage(conn: psycopg.Connection) -> None:
    """Rebuild marts.fct_usage (and what it depends on) with dbt on the test's database: invoices
    read usage from the mart. The first build of a database builds every model from scratch
    (``--full-refresh``), later ones run incrementally, as the scheduled refresh does."""
    from billing.usage import refresh_usage_marts
    from core.dbt import run_dbt

    url = os.environ["DATABASE_URL"]
    if conn.execute("select to_regclass('marts.fct_usage')").fetchone()[0] is None:
        run_dbt(url, "run", "--select", "+fct_usage", "--full-refresh", target_path=_DBT_TARGET)
    else:
        refresh_usage_marts(url, target_path=_DBT_TARGET)
