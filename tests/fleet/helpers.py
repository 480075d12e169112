"""Writing a plan and the staging views the controller reads, for the fleet tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg

from assets.allocation_queries import write_plan

STAGING_MODELS = ("stg_raw__devices", "stg_raw__facilities", "stg_raw__energy_prices", "stg_fleet__status")


def write_modes(conn: psycopg.Connection, modes: dict[str, str], start: datetime | None = None) -> str:
    """A one-interval plan (``device -> mining | inference | curtailed``) starting this hour."""
    start = start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    plan_id = uuid.uuid4().hex
    plan = {
        "plan_id": plan_id, "issued_at": datetime.now(UTC), "horizon_start": start, "horizon_hours": 1,
        "dt_hours": 1, "objective": 0.0, "upper_bound": 0.0, "gap": 0.0, "seconds": 0.0,
        "devices": len(modes), "intervals": 1, "status": "feasible", "inputs": {"test": True},
    }  # fmt: skip
    rows = pd.DataFrame(
        {
            "device_id": list(modes),
            "interval_start": start,
            "mode": list(modes.values()),
            "expected_margin_usd": 1.0,
            "reason": "test plan",
        }
    )
    summary = pd.DataFrame(
        {
            "facility_id": ["fac-tx1"], "interval_start": [start], "mw_mining": [0.0], "mw_inference": [0.0],
            "mw_curtailed": [0.0], "cap_mw": [20.0], "expected_profit_usd": [0.0],
        }
    )  # fmt: skip
    write_plan(conn, plan, rows, summary)
    return plan_id


def age_commands(conn: psycopg.Connection, minutes: float) -> None:
    """Move every recorded command ``minutes`` into the past (past the dwell time)."""
    conn.execute(
        "update ops.fleet_commands set issued_at = issued_at - make_interval(mins => %s),"
        " finished_at = finished_at - make_interval(mins => %s)",
        (minutes, minutes),
    )


def hour_ago() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


def solve_plan(
    conn: psycopg.Connection,
    asics: dict[str, tuple[float, float]],
    price_usd_mwh: float,
    hashprice_usd_per_th_h: float,
    cap_kw: float = 20000.0,
    pue: float = 1.12,
) -> str:
    """Build and solve a one-hour plan for ``asics`` (``id -> (power kW, hashrate TH/s)``) in one
    facility with the real allocation kernel, and store it as the latest plan."""
    import numpy as np

    from kernels.allocation import AllocationProblem, solve

    ids = list(asics)
    d = len(ids)
    problem = AllocationProblem(
        dt=1.0,
        device_facility=np.zeros(d, np.int32),
        device_pool=np.full(d, -1, np.int32),
        power_kw=np.array([asics[i][0] for i in ids], np.float64),
        hashrate_ths=np.array([asics[i][1] for i in ids], np.float64),
        restart_usd=np.zeros(d, np.float64),
        initial_on=np.zeros(d, bool),
        pue=np.array([pue], np.float64),
        cap_kw=np.array([[cap_kw]], np.float64),
        price_usd_mwh=np.array([[price_usd_mwh]], np.float64),
        hashprice_usd_per_th_h=np.array([hashprice_usd_per_th_h], np.float64),
        rate_usd_per_gpu_h=np.zeros((0, 1), np.float64),
        demand_gpus=np.zeros((0, 1), np.int32),
        committed_gpus=np.zeros((0, 1), np.int32),
        penalty_usd_per_gpu_h=np.zeros(0, np.float64),
    )
    x = solve(problem).x[:, 0]
    modes = {i: "mining" if on else "curtailed" for i, on in zip(ids, x, strict=True)}
    return write_modes(conn, modes)


def load_price_spike(conn: psycopg.Connection, folder: Path, usd_mwh: float = 5000.0) -> None:
    """A real-time price at the fixture facility's node (ERCOT HB_WEST) for the current 15 minutes."""
    from ingestion.loader import ingest_file

    now = datetime.now(UTC)
    start = now.replace(minute=(now.minute // 15) * 15, second=0, microsecond=0)
    spike = folder / "spike.csv"
    spike.write_text(
        "market,node_name,price_kind,interval_start_utc,interval_minutes,price_usd_per_mwh\n"
        f"ERCOT,HB_WEST,rt,{start:%Y-%m-%dT%H:%M:%SZ},15,{usd_mwh:g}\n"
    )
    assert ingest_file(conn, "prices", spike).loaded == 1
