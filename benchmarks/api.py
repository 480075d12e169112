"""``hcp bench api``: 50 concurrent locust clients against ``hcp api serve`` on a fleet built by the
pipeline, p50 / p95 per endpoint beside the same SQL run directly in PostgreSQL (as hcp_api).

Goal: p95 < 100 ms for every list endpoint, and no error.
"""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from api.db import api_database_url, enable_login
from api.keys import create_key
from api.routes import invoices, plans, usage, workloads

LOCUSTFILE = Path(__file__).with_name("api_locustfile.py")
LISTS = ("GET /v1/usage", "GET /v1/invoices", "GET /v1/credit-notes", "GET /v1/workloads", "GET /v1/sessions",
         "GET /v1/plans", "GET /v1/plans/current/devices")  # fmt: skip


def finalize_all(url: str) -> int:
    """Finalize every draft invoice of the fleet (as the monthly run does once a period is over)."""
    from billing.invoices import finalize_invoice

    with psycopg.connect(url, autocommit=True) as conn:
        drafts = conn.execute(
            "select invoice_id, period_end from billing.invoices where status = 'draft' order by invoice_id"
        ).fetchall()
        for invoice_id, period_end in drafts:
            finalize_invoice(
                conn, invoice_id, now=period_end + timedelta(days=5), actor="bench", check_inputs=False
            )
    return len(drafts)


def make_keys(url: str, secret: bytes) -> dict:
    """An operator key and one key per customer (with their invoice ids), limits off for the load."""
    with psycopg.connect(url, autocommit=True) as conn:
        _, operator = create_key(
            conn, secret, name="bench", customer_id=None, rate_per_minute=10**7, actor="bench"
        )
        customers = {}
        for (cid,) in conn.execute("select customer_id from marts.dim_customers order by 1").fetchall():
            _, token = create_key(
                conn, secret, name="bench", customer_id=cid, rate_per_minute=10**7, actor="bench"
            )
            ids = [r[0] for r in conn.execute(
                "select invoice_id from billing.invoices where customer_id = %s and kind = 'invoice'", (cid,))]  # fmt: skip
            customers[cid] = {"token": token, "invoices": ids}
    return {"operator": operator, "customers": customers}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def direct_sql(api_url: str, customers: list[str], repeats: int = 60) -> dict[str, tuple[float, float]]:
    """p50 / p95 ms of each list endpoint's own SQL (same parameters as the load), as hcp_api."""
    none4 = {"c0": None, "c1": None, "c2": None, "c3": None}
    cases: dict[str, Callable[[str], tuple[str, dict]]] = {
        "GET /v1/usage": lambda c: (usage._QUERY, {"customer": c, "start": None, "end": None, "model": None,
                                                     "wtype": None, **none4, "limit": 101}),
        "GET /v1/invoices": lambda c: (invoices._LIST, {"kinds": invoices.INVOICE_KINDS, "customer": c,
            "final_only": True, "status": None, "period": None, "start": None, "end": None, "after": None, "limit": 101}),
        "GET /v1/credit-notes": lambda c: (invoices._LIST, {"kinds": invoices.NOTE_KINDS, "customer": c,
            "final_only": True, "status": None, "period": None, "start": None, "end": None, "after": None, "limit": 101}),
        "GET /v1/workloads": lambda c: (workloads._WORKLOADS, {"customer": c, "workload": None, "after": None,
                                                               "start": None, "end": None, "limit": 101}),
        "GET /v1/sessions": lambda c: (workloads._SESSIONS, {"customer": c, "workload": None, "start": None,
                                                             "end": None, "c0": None, "c1": None, "limit": 101}),
        "GET /v1/plans": lambda c: (plans._HISTORY, {"start": None, "end": None, "c0": None, "c1": None, "limit": 101}),
        "GET /v1/plans/current/devices": lambda c: (plans._DEVICES, {"plan": None, "device": None, "start": None,
                                                    "end": None, "c0": None, "c1": None, "limit": 101}),
    }  # fmt: skip
    out = {}
    with psycopg.connect(api_url, autocommit=True) as conn:
        current = conn.execute(
            "select plan_id from ops.allocation_plans order by issued_at desc limit 1"
        ).fetchone()
        for name, case in cases.items():
            times = []
            for i in range(repeats):
                query, given = case(customers[i % len(customers)])
                if "plan" in given:
                    given["plan"] = current[0] if current else None
                # every placeholder the route's query has, unset ones as the route leaves them: None
                params = {name: given.get(name) for name in re.findall(r"%\((\w+)\)s", query)}
                started = time.perf_counter()
                conn.execute(query, params).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            out[name] = (statistics.median(times), _percentile(times, 95))
    return out


def run_load(base_url: str, setup: dict, users: int, seconds: int, workdir: Path) -> dict[str, dict]:
    """Locust, headless, in its own process; per-endpoint rows of its CSV statistics."""
    prefix = workdir / "locust"
    env = {**os.environ, "HCP_BENCH_API": json.dumps(setup)}
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r", str(users),
         "-t", f"{seconds}s", "--host", base_url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"],
        env=env, check=False, capture_output=True, timeout=seconds + 120,
    )  # fmt: skip
    rows = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            name = f"{row['Type']} {row['Name']}".strip() if row["Type"] else row["Name"]
            rows[name] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"]),
                "p95_ms": float(row["95%"]),
                "rps": float(row["Requests/s"]),
            }
    return rows


def bench_api(url: str, users: int = 50, seconds: int = 60, workers: int = 1, progress=print) -> dict:
    """Serve the API on ``url`` (a fleet built by the pipeline) and load it; returns the figures."""
    from api.config import key_secret

    finalized = finalize_all(url)
    secret = key_secret()
    setup = make_keys(url, secret)
    enable_login(url, None)
    api_url = api_database_url(url, os.environ.get("HCP_API_DB_PASSWORD"))
    port = _free_port()
    env = {**os.environ, "HCP_API_DATABASE_URL": api_url, "HCP_API_KEY_SECRET": secret.decode()}
    env.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="hcp-bench-api-") as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--no-access-log", "--workers", str(workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            progress(f"API up; {finalized} invoices finalized; {users} clients for {seconds} s")
            load = run_load(base, setup, users, seconds, Path(tmp))
        finally:
            server.terminate()
            server.wait(timeout=30)
    sql = direct_sql(api_url, list(setup["customers"]))
    endpoints = {}
    for name, row in load.items():
        if name == "Aggregated":
            continue
        direct = sql.get(name)
        endpoints[name] = {**row, "sql_p50_ms": direct and round(direct[0], 2), "sql_p95_ms": direct and round(direct[1], 2),
                           "list": name in LISTS}  # fmt: skip
    lists = [e for e in endpoints.values() if e["list"]]
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "users": users,
        "seconds": seconds,
        "workers": workers,
        "endpoints": endpoints,
        "total": load.get("Aggregated"),
        "goal_met": bool(lists)
        and all(e["p95_ms"] < 100 for e in lists)
        and all(e["failures"] == 0 for e in endpoints.values()),
    }
