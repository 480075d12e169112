"""Small, clean raw tables for the quality tests; each test then injects one defect."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from ingestion.bulk import ensure_day_partitions

DAY = "2026-03-10"  # a closed day (CDT, no DST change)
CHICAGO = ZoneInfo("America/Chicago")
DEVICES = [("asic-001", "asic", 3.5, 200.0), ("asic-002", "asic", 3.5, 200.0), ("gpu-001", "gpu", 0.7, None)]


def open_load(conn: psycopg.Connection) -> None:
    """Open load 1 (for tables with a load_log reference) in the test's fresh database."""
    conn.execute("insert into raw.load_log (kind, source_file) values ('test', 'test')")


def forget_readings(conn: psycopg.Connection) -> None:
    """Delete the telemetry and prices a test inserted, to insert others in their place."""
    conn.execute("delete from raw.device_telemetry")
    conn.execute("delete from raw.energy_prices")


def price_rows(day: str = DAY, node: str = "HB_NORTH", load_id: int = 1) -> list[tuple]:
    """One ERCOT market day of 15-minute real-time prices for ``node``."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), CHICAGO)
    rows = []
    for i in range(96):
        local = start + timedelta(minutes=15 * i)
        utc = local.astimezone(UTC)
        rows.append(("ERCOT", node, "rt", utc, 15, local.replace(tzinfo=None), 20.0 + i % 7, load_id))
    return rows


def insert_prices(conn: psycopg.Connection, rows: list[tuple]) -> None:
    conn.execute(
        "insert into raw.price_nodes values ('HB_NORTH', 'ERCOT', 'HU', 'America/Chicago', 1) on conflict do nothing"
    )
    with conn.cursor() as cur:
        cur.executemany(
            """insert into raw.energy_prices (market, node_name, price_kind, interval_start_utc,
                   interval_minutes, interval_start_local, price_usd_per_mwh, load_id)
               values (%s, %s, %s, %s, %s, %s, %s, %s)""",
            rows,
        )


def insert_devices(conn: psycopg.Connection) -> None:
    conn.execute(
        "insert into raw.facilities values ('fac-1', 'F1', 'ERCOT', 'HB_NORTH', 'America/Chicago', 5000, 1.2, 1)"
    )
    with conn.cursor() as cur:
        cur.executemany(
            """insert into raw.devices (device_id, facility_id, kind, model, nominal_power_kw,
                   nominal_hashrate_ths, load_id) values (%s, 'fac-1', %s, 'm', %s, %s, 1)""",
            DEVICES,
        )


def telemetry_rows(day: str = DAY, load_id: int = 1) -> list[list]:
    """A full day of 5-minute readings for every test device, all inside their nameplates."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    rows = []
    for device_id, _kind, power, hashrate in DEVICES:
        for i in range(288):
            ts = start + timedelta(minutes=5 * i)
            rows.append(
                [
                    device_id,
                    ts,
                    power * 0.95,
                    hashrate * 0.98 if hashrate else None,
                    None if hashrate else 80.0,
                    60.0,
                    load_id,
                ]
            )
    return rows


def insert_telemetry(conn: psycopg.Connection, rows: list[list]) -> None:
    ensure_day_partitions(conn, "device_telemetry", [row[1] for row in rows])
    with conn.cursor() as cur:
        cur.executemany(
            """insert into raw.device_telemetry (device_id, ts, power_kw, hashrate_ths, gpu_util_pct,
                   temperature_c, load_id) values (%s, %s, %s, %s, %s, %s, %s)
               on conflict do nothing""",  # as the loader: an exact repeat of a stored row is kept once
            rows,
        )


def insert_btc(conn: psycopg.Connection, prices: list[float], difficulties: list[float]) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with conn.cursor() as cur:
        cur.executemany(
            """insert into raw.btc_economics (observed_at, btc_price_usd, difficulty, block_subsidy_btc,
                   fees_btc_per_block, load_id) values (%s, %s, %s, 3.125, 0.05, 1)""",
            [
                (start + timedelta(days=i), p, d)
                for i, (p, d) in enumerate(zip(prices, difficulties, strict=True))
            ],
        )


def insert_customers(conn: psycopg.Connection, ids: tuple[str, ...] = ("cust-1",)) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "insert into raw.customers values (%s, '\\x00', 'k1', 'UTC', 0.0, 'inference', 1)",
            [(i,) for i in ids],
        )


def insert_events(conn: psycopg.Connection, events: list[tuple[str, str, str, str, int]]) -> None:
    """Events as (event_id, workload_id, customer_id, event_type, minutes after the day's start)."""
    start = datetime.fromisoformat(DAY).replace(tzinfo=UTC)
    with conn.cursor() as cur:
        cur.executemany(
            """insert into raw.workload_events (event_id, workload_id, customer_id, event_type, event_at, load_id)
               values (%s, %s, %s, %s, %s, 1)""",
            [(e, w, c, t, start + timedelta(minutes=m)) for e, w, c, t, m in events],
        )


CLEAN_EVENTS = [
    ("e1", "w1", "cust-1", "submitted", 10),
    ("e2", "w1", "cust-1", "started", 20),
    ("e3", "w1", "cust-1", "paused", 30),
    ("e4", "w1", "cust-1", "resumed", 40),
    ("e5", "w1", "cust-1", "completed", 50),
    ("e6", "w2", "cust-1", "submitted", 60),
    ("e7", "w2", "cust-1", "cancelled", 70),
]
