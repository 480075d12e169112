"""One home per rule: "latest load wins" is applied in dbt staging only; Python reads staging.

The static check scans every Python module outside the loaders (ingestion/), reconcile's deliberate
independent recomputation (billing/reconcile*.py), the synthetic raw writers (benchmarks/) and the
PII module that writes raw.customers itself (billing/customers.py), and the data-quality checks
of the raw assets (which judge each load as loaded); the behavioural ones load two
versions of a row and see the readers take the newer one from staging.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from billing.catalog import load_catalog
from billing.usage import load_energy
from ingestion.bulk import ensure_day_partitions
from tests.billing import factories as f

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

ROOT = Path(__file__).resolve().parents[2]
EXCEPTED = ("ingestion/", "billing/reconcile", "benchmarks/", "billing/customers.py", "tests/", ".venv/")
LATEST_LOAD = re.compile(r"load_id\s+desc|max\((\w+\.)?load_id\)", re.IGNORECASE)
# Data-quality checks and freshness checks of the raw assets look at raw itself, on purpose.
RAW_CHECKS = ("expectations/", "assets/quality.py")
RAW_REGISTRY = re.compile(r"\braw\.(customers|rate_cards|devices|facilities|workload_events|energy_prices)\b")


def _modules() -> list[Path]:
    return [
        p
        for p in ROOT.rglob("*.py")
        if not any(p.relative_to(ROOT).as_posix().startswith(e) for e in EXCEPTED)
        and "site-packages" not in p.parts
    ]


def test_latest_load_is_written_only_in_dbt():
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _modules()
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if LATEST_LOAD.search(line) and not any(c in p.as_posix() for c in RAW_CHECKS)
    ]
    assert offenders == []
    macro = (ROOT / "dbt_project/macros/latest_load.sql").read_text()
    assert "load_id desc" in macro


def test_python_reads_the_registry_from_staging():
    offenders = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in _modules()
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if RAW_REGISTRY.search(line)
        and not line.lstrip().startswith("#")
        and not any(c in p.as_posix() for c in RAW_CHECKS)
    ]
    assert offenders == []


def test_ml_loaders_have_no_raw_fallback():
    source = (ROOT / "assets/ml_queries.py").read_text()
    assert "raw." not in source and "to_regclass" not in source


def test_catalog_and_energy_take_the_newest_load(conn):
    f.customer(conn, "c1", tz="UTC")
    conn.execute(
        """insert into raw.customers (customer_id, pii_encrypted, pii_key_id, timezone, tax_rate, customer_type,
               load_id) select customer_id, pii_encrypted, pii_key_id, 'Europe/Paris', 0.2, customer_type, 2
           from raw.customers where customer_id = 'c1'"""
    )
    since = datetime(2026, 1, 1, tzinfo=UTC)
    f.card(conn, "card-1", None, f.H100, "inference", "2.00", 60, since)
    conn.execute(
        "update raw.rate_cards set load_id = 1; insert into raw.rate_cards select rate_card_id, customer_id, "
        "gpu_model, workload_type, 3.50, min_increment_seconds, effective_from, 2 from raw.rate_cards"
    )
    conn.execute(
        "insert into raw.facilities values ('fac-1', 'Site', 'ERCOT', 'HB_WEST', 'UTC', 1000, 1.1, 1)"
    )
    for rack, load in (("r1", 1), ("r2", 2)):  # the device moved to rack r2 in load 2
        conn.execute(
            """insert into raw.devices (device_id, facility_id, kind, model, nominal_power_kw, rack, load_id)
               values ('a1', 'fac-1', 'asic', 'S19', 3.2, %s, %s)""",
            (rack, load),
        )
    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    conn.execute(
        "insert into raw.energy_prices values ('ERCOT', 'HB_WEST', 'rt', %s, 60, %s, 40, 1)", (at, at)
    )
    conn.execute(
        "insert into raw.energy_prices values ('ERCOT', 'HB_WEST', 'rt', %s, 60, %s, 50, 2)", (at, at)
    )
    ensure_day_partitions(conn, "device_telemetry", [at])
    for power, load in ((1.0, 1), (2.0, 2)):  # a corrected file re-sends the sample
        conn.execute(
            "insert into raw.device_telemetry (device_id, ts, power_kw, load_id) values ('a1', %s, %s, %s)",
            (at, power, load),
        )

    catalog = load_catalog(conn)
    assert catalog.customers["c1"].timezone == "Europe/Paris"
    assert catalog.customers["c1"].tax_rate == Decimal("0.2")
    [card] = catalog.cards[(None, f.H100, "inference")]
    assert card.price == Decimal("3.50")
    hour = (at, datetime(2026, 11, 2, 11, tzinfo=UTC))
    assert load_energy(conn, "fac-1", "r1", *hour) == []
    [interval] = load_energy(conn, "fac-1", "r2", *hour)
    assert interval.energy_kwh == Decimal("2")
    assert interval.price_usd_per_mwh == Decimal("50")
