"""``hcp bench billing``: monthly invoicing for every customer at the default fleet and at 10x the
customers and workloads, side by side. Goal: linear in usage rows (10x data under 10x time).

Two steps are timed separately, because invoices read usage from the marts: the dbt run of
``+fct_usage`` (sessions, metered and billable pieces, the usage mart; wall time and the models'
own execution time from run_results.json, the wall adding dbt's fixed start-up) and invoice
generation (``build_drafts`` for the month, best of a few runs). Each size reports the usage rows
at each stage (sessions, billable pieces, fct_usage rows), so each step's time ratio reads against
the usage ratio.

Each size runs in a scratch database on the same server (created, migrated, dropped), filled with
seeded synthetic workloads on the default fleet's 120 GPUs (72 H100, 48 L40S): every customer gets
``workloads`` jobs over the month, some paused and resumed, on 1-8 GPUs.
"""

from __future__ import annotations

import io
import json
import random
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from core.db import scratch_database
from core.pii import encrypt_pii, load_key

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
        cur.execute("select raw.create_day_partitions('raw.device_telemetry', array['2026-11-03'::date])")
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


# usage rows at each stage, counted after the build: what the two timed steps read and write
COUNTS_SQL = {
    "sessions": "select count(*) from intermediate.int_workload_sessions_built",
    "billable_pieces": "select count(*) from intermediate.int_workload_usage_billable",
    "usage_rows": "select count(*) from marts.fct_usage",
}

# the usage models whose dbt execution time is reported one by one
USAGE_MODELS = (
    "int_workload_sessions_built",
    "int_workload_usage_metered",
    "int_workload_usage_billable",
    "fct_usage",
)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DBT_RESULT = re.compile(r"(\d+ of \d+) (OK|ERROR|FAIL|SKIP)\b.* model (\S+)[ .]*\[(.*)\]")


def _dbt_progress(progress: Callable[[str], None], label: str) -> Callable[[str], None]:
    """Forward dbt's per-model results ("13 of 16 OK ... model x ... [SELECT n in 1.2s]") as one line each."""

    def on_line(line: str) -> None:
        found = _DBT_RESULT.search(_ANSI.sub("", line))
        if found:
            count, status, model, detail = found.groups()
            progress(f"{label}: dbt {count} {model} {status} ({detail})")

    return on_line


def _model_seconds(target: Path) -> dict[str, float]:
    """Execution seconds per model of the last dbt invocation (run_results.json)."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].rsplit(".", 1)[-1]: round(r["execution_time"], 3) for r in results}


def _measure(url: str, customers: int, workloads: int, repeats: int, progress) -> dict:
    """One size in its own scratch database: fill, dbt run of +fct_usage (timed), invoice drafts
    for every customer (timed, best of ``repeats``), and the row counts behind both."""
    from billing.invoices import build_drafts
    from billing.seed import seed_defaults
    from billing.usage import refresh_usage_marts

    label = f"{customers} customers"
    with scratch_database(url, "hcp_bench_billing") as scratch, tempfile.TemporaryDirectory() as target:
        with psycopg.connect(scratch, autocommit=True) as conn:
            progress(f"{label} x {workloads} workloads: generating events")
            events = _fill(conn, customers, workloads, seed=customers)
            seed_defaults(conn, actor="bench")
        progress(f"{label}: dbt run --select +fct_usage ({events} events)")
        began = time.perf_counter()
        refresh_usage_marts(scratch, target_path=Path(target), on_line=_dbt_progress(progress, label))
        dbt_wall = time.perf_counter() - began
        models = _model_seconds(Path(target))
        with psycopg.connect(scratch, autocommit=True) as conn:
            counts = {name: conn.execute(sql).fetchone()[0] for name, sql in COUNTS_SQL.items()}
            best = None
            for attempt in range(repeats):
                progress(f"{label}: invoice drafts for {PERIOD} ({attempt + 1} of {repeats})")
                began = time.perf_counter()
                drafts = build_drafts(conn, PERIOD)
                elapsed = time.perf_counter() - began
                best = elapsed if best is None else min(best, elapsed)
            lines = conn.execute("select count(*) from billing.invoice_lines").fetchone()[0]
            links = conn.execute("select count(*) from billing.invoice_line_usage").fetchone()[0]
            progress(f"{label}: {len(drafts)} invoices in {best:.2f} s, dbt {dbt_wall:.1f} s")
    return {
        "customers": customers,
        "workloads": customers * workloads,
        "events": events,
        **counts,
        "invoices": len(drafts),
        "invoice_lines": lines,
        "line_usage_links": links,
        "dbt_wall_seconds": round(dbt_wall, 3),
        "dbt_model_seconds": round(sum(models.values()), 3),
        "dbt_usage_model_seconds": {name: models.get(name) for name in USAGE_MODELS},
        "invoice_seconds": round(best, 3),
        "usage_rows_per_invoice_s": round(counts["usage_rows"] / best) if best else None,
    }


def _ratio(large: float, base: float) -> float | None:
    return round(large / base, 2) if base else None


def run_benchmark(
    url: str,
    customers: int = 10,
    workloads: int = 300,
    repeats: int = 3,
    progress: Callable[[str], None] = lambda text: None,
) -> dict:
    """Both steps of monthly invoicing at 1x and at 10x customers (same workloads per customer, so
    10x workloads and usage): the dbt run of the usage marts the invoices read, and invoice
    generation itself. Per step: seconds at each size and their ratio; a step is linear when its
    time grows no more than its usage rows (marts.fct_usage) do, and meets the goal under 10x."""
    base = _measure(url, customers, workloads, repeats, progress)
    large = _measure(url, customers * 10, workloads, repeats, progress)
    usage_ratio = _ratio(large["usage_rows"], base["usage_rows"])
    steps = {}
    for step, key in (
        ("dbt_usage_marts", "dbt_model_seconds"),
        ("dbt_usage_marts_wall", "dbt_wall_seconds"),
        ("invoice_generation", "invoice_seconds"),
    ):
        ratio = _ratio(large[key], base[key])
        steps[step] = {
            "default_seconds": base[key],
            "x10_seconds": large[key],
            "time_ratio": ratio,
            "linear": ratio is not None and usage_ratio is not None and ratio <= usage_ratio,
            "under_10x": ratio is not None and ratio < 10,
        }
    return {
        "period": PERIOD,
        "default": base,
        "x10": large,
        "usage_ratio": usage_ratio,
        "pieces_ratio": _ratio(large["billable_pieces"], base["billable_pieces"]),
        "steps": steps,
        "linear": all(step["linear"] for step in steps.values()),
    }


def format_table(result: dict) -> str:
    """The two sizes side by side, then each step's time ratio against the usage ratio."""
    base, large = result["default"], result["x10"]
    rows = [("", "default", "10x")]
    for key in (
        "customers",
        "workloads",
        "events",
        "sessions",
        "billable_pieces",
        "usage_rows",
        "invoices",
        "invoice_lines",
        "line_usage_links",
        "dbt_wall_seconds",
        "dbt_model_seconds",
    ):
        rows.append((key, str(base[key]), str(large[key])))
    for model in USAGE_MODELS:
        rows.append(
            (
                f"  {model}",
                str(base["dbt_usage_model_seconds"][model]),
                str(large["dbt_usage_model_seconds"][model]),
            )
        )
    rows += [
        ("invoice_seconds", str(base["invoice_seconds"]), str(large["invoice_seconds"])),
        (
            "usage_rows_per_invoice_s",
            str(base["usage_rows_per_invoice_s"]),
            str(large["usage_rows_per_invoice_s"]),
        ),
    ]
    width = max(len(r[0]) for r in rows)
    text = "\n".join(f"{a:<{width}}  {b:>12}  {c:>12}" for a, b, c in rows)
    verdicts = "\n".join(
        f"{name}: time x{step['time_ratio']} for usage rows x{result['usage_ratio']}: "
        f"{'linear' if step['linear'] else 'NOT linear'}, {'under' if step['under_10x'] else 'NOT under'} 10x"
        for name, step in result["steps"].items()
    )
    return f"billing: dbt usage marts and invoice generation for {result['period']}\n{text}\n{verdicts}"
