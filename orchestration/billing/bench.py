"""``hcp bench billing``: invoice generation for every customer of a month at the default fleet and
at 10x the customers and workloads, side by side. Goal: linear in usage rows (10x under 10x time).

Each size runs in a scratch database on the same server (created, migrated, dropped), filled with
seeded synthetic workloads on the default fleet's 120 GPUs (72 H100, 48 L40S): every customer gets
``workloads`` jobs over the month, some paused and resumed, on 1-8 GPUs.
"""

from __future__ import annotations

import io
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from ingestion.pii import encrypt_pii, load_key
from orchestration.db import scratch_database

PERIOD = "2026-10"
START = datetime(2026, 10, 1, tzinfo=UTC)
POOLS = {"h100": ("NVIDIA H100 80GB HBM3", 72), "l40s": ("NVIDIA L40S", 48)}
PRICES = {
    ("h100", "inference"): "2.49",
    ("h100", "batch"): "1.99",
    ("l40s", "inference"): "0.99",
    ("l40s", "batch"): "0.79",
}


def _fill(conn: psycopg.Connection, customers: int, workloads: int, seed: int) -> int:
    """Synthetic month of customers, GPUs, rate cards and workload events; returns events written."""
    rng = random.Random(seed)
    key = load_key()
    zones = ["UTC", "America/Chicago", "America/New_York", "America/Los_Angeles"]
    ids = [f"cust-{i + 1:04d}" for i in range(customers)]
    with conn.cursor() as cur:
        for i, cid in enumerate(ids):
            pii = {
                "name": f"Customer {i}",
                "email": f"b{i}@example.com",
                "billing_address": "1 Main St",
                "tax_id": f"{i:09d}",
            }
            cur.execute(
                """insert into raw.customers (customer_id, pii_encrypted, pii_key_id, timezone, tax_rate,
                       customer_type, load_id) values (%s, %s, %s, %s, %s, 'inference', 1)""",
                (cid, encrypt_pii(pii, cid, key), key.key_id, zones[i % 4], "0.0825" if i % 2 else "0"),
            )
        devices = []
        for pool, (model, n) in POOLS.items():
            for g in range(n):
                devices.append((f"{pool}-{g:03d}", pool, model))
                cur.execute(
                    """insert into raw.devices (device_id, facility_id, kind, model, gpu_pool, nominal_power_kw,
                           load_id) values (%s, 'fac-1', 'gpu', %s, %s, 0.7, 1)""",
                    (f"{pool}-{g:03d}", model, pool),
                )
        for n, ((pool, wtype), price) in enumerate(PRICES.items()):
            cur.execute(
                """insert into raw.rate_cards values (%s, null, %s, %s, %s, %s, '2026-01-01', 1),
                          (%s, null, %s, %s, %s, %s, '2026-10-16', 1)""",
                (
                    f"rc-{n}",
                    POOLS[pool][0],
                    wtype,
                    price,
                    60 if wtype == "batch" else 1,
                    f"rc-{n}-b",
                    POOLS[pool][0],
                    wtype,
                    price,
                    60 if wtype == "batch" else 1,
                ),
            )
        cur.execute(
            "insert into raw.device_telemetry (device_id, ts, power_kw, load_id) values ('x', '2026-11-03', 0, 1)"
        )
    buffer = io.StringIO()
    events = 0
    month_s = 31 * 86400
    for cid in ids:
        for w in range(workloads):
            pool = "h100" if rng.random() < 0.6 else "l40s"
            wtype = "inference" if rng.random() < 0.6 else "batch"
            gpus = rng.choice([1, 1, 2, 2, 4, 8])
            placed = [d[0] for d in rng.sample([d for d in devices if d[1] == pool], gpus)]
            at = START - timedelta(hours=6) + timedelta(seconds=rng.randrange(month_s))
            run_s = int(rng.lognormvariate(9.5, 0.7))
            steps = [("submitted", at, []), ("started", at + timedelta(seconds=30), placed)]
            t = at + timedelta(seconds=30)
            if rng.random() < 0.15:
                t += timedelta(seconds=run_s // 2)
                steps += [
                    ("paused", t, []),
                    ("resumed", t + timedelta(seconds=rng.randrange(600, 7200)), placed),
                ]
                t = steps[-1][1]
            steps.append(
                ("completed" if rng.random() < 0.9 else "failed", t + timedelta(seconds=run_s // 2), [])
            )
            wid = f"{cid}-wl-{w:05d}"
            for kind, when, devs in steps:
                array = "{" + ",".join(devs) + "}"
                buffer.write(
                    f"{uuid.UUID(int=rng.getrandbits(128))}\t{wid}\t{cid}\t{kind}\t{when.isoformat()}\t"
                    f"{wtype}\t{pool}\t{gpus}\t{array}\t1\n"
                )
                events += 1
    with conn.cursor().copy(
        """copy raw.workload_events (event_id, workload_id, customer_id, event_type, event_at, workload_type,
               gpu_pool, gpus_requested, device_ids, load_id) from stdin"""
    ) as copy:
        copy.write(buffer.getvalue())
    conn.execute("analyze raw.workload_events")
    return events


def _measure(url: str, customers: int, workloads: int, repeats: int, progress) -> dict:
    from orchestration.billing.invoices import build_drafts
    from orchestration.billing.seed import seed_defaults
    from orchestration.billing.usage import refresh_usage_marts

    with scratch_database(url, "hcp_bench_billing") as scratch, tempfile.TemporaryDirectory() as target:
        with psycopg.connect(scratch, autocommit=True) as conn:
            progress(f"{customers} customers x {workloads} workloads: generating")
            events = _fill(conn, customers, workloads, seed=customers)
            seed_defaults(conn, actor="bench")
        progress(f"{customers} customers: building marts.fct_usage with dbt")
        began = time.perf_counter()
        refresh_usage_marts(scratch, target_path=Path(target))
        mart_seconds = time.perf_counter() - began
        with psycopg.connect(scratch, autocommit=True) as conn:
            best = None
            for _ in range(repeats):
                began = time.perf_counter()
                drafts = build_drafts(conn, PERIOD)
                elapsed = time.perf_counter() - began
                best = elapsed if best is None else min(best, elapsed)
            usage_rows = conn.execute("select count(*) from billing.invoice_line_usage").fetchone()[0]
            lines = conn.execute("select count(*) from billing.invoice_lines").fetchone()[0]
            progress(f"{customers} customers: {len(drafts)} invoices in {best:.2f} s")
    return {
        "customers": customers,
        "workloads": customers * workloads,
        "events": events,
        "invoices": len(drafts),
        "lines": lines,
        "usage_rows": usage_rows,
        "seconds": round(best, 3),
        "usage_rows_per_s": round(usage_rows / best) if best else None,
        "usage_mart_seconds": round(mart_seconds, 3),
    }


def run_benchmark(
    url: str,
    customers: int = 10,
    workloads: int = 300,
    repeats: int = 2,
    progress: Callable[[str], None] = lambda text: None,
) -> dict:
    """Invoice generation at 1x and 10x customers (same workloads per customer, so 10x usage).
    Returns both measurements and the time ratio (linear scaling: ratio <= 10)."""
    base = _measure(url, customers, workloads, repeats, progress)
    large = _measure(url, customers * 10, workloads, repeats, progress)
    ratio = large["seconds"] / base["seconds"] if base["seconds"] else None
    return {
        "period": PERIOD,
        "default": base,
        "x10": large,
        "time_ratio": round(ratio, 2) if ratio else None,
        "usage_ratio": round(large["usage_rows"] / base["usage_rows"], 2) if base["usage_rows"] else None,
        "linear": bool(ratio is not None and ratio <= 10),
    }


def format_table(result: dict) -> str:
    """The two sizes side by side and the scaling verdict."""
    rows = [("", "default", "10x")]
    for key in (
        "customers",
        "workloads",
        "events",
        "invoices",
        "lines",
        "usage_rows",
        "seconds",
        "usage_rows_per_s",
    ):
        rows.append((key, str(result["default"][key]), str(result["x10"][key])))
    width = max(len(r[0]) for r in rows)
    text = "\n".join(f"{a:<{width}}  {b:>12}  {c:>12}" for a, b, c in rows)
    return (
        f"billing: invoice generation for {result['period']}\n{text}\n"
        f"time x{result['time_ratio']} for usage x{result['usage_ratio']}: "
        f"{'linear (under 10x)' if result['linear'] else 'NOT linear'}"
    )
