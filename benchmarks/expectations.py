"""``hcp bench quality``: the telemetry check on a day of data vs loading the same day (the baseline).

For each fleet size a normalized telemetry CSV of one closed day (5-minute readings) is loaded
through ``ingestion.loader.ingest_file`` and then checked with the telemetry suite (its set-based
device-hour frame: bounds, known devices, coverage) exactly as the Dagster asset check runs it.
Everything happens in a scratch database on the same server, dropped at the end, so the
platform's tables are untouched.
The goal: checking a day costs no more than loading it (checks / ingest <= 1).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from core.db import scratch_database
from expectations.suites import CHECKS

INTERVAL_MINUTES = 5
DEFAULT_FLEETS = (1_000, 10_000)


def write_day_csv(path: Path, devices: int, day: date, seed: int = 11) -> list[tuple[str, str]]:
    """One day of 5-minute readings for ``devices`` devices (even: ASIC, odd: GPU), inside nameplate.

    Returns (device_id, kind) pairs for the device registry.
    """
    rng = np.random.default_rng(seed)
    per_day = 24 * 60 // INTERVAL_MINUTES
    rows = devices * per_day
    ids = np.array([f"qbench-{i:06d}" for i in range(devices)])
    step = np.arange(rows)
    device = step % devices
    gpu = device % 2 == 1
    start = np.datetime64(datetime.combine(day, datetime.min.time()), "s")
    ts = start + (step // devices * INTERVAL_MINUTES).astype("timedelta64[m]")
    frame = pd.DataFrame(
        {
            "device_id": ids[device],
            "ts": np.datetime_as_string(ts, unit="s").astype(object) + "Z",
            "power_kw": np.round(np.where(gpu, rng.uniform(0.2, 0.8, rows), rng.uniform(3.0, 3.6, rows)), 3),
            "hashrate_ths": np.where(gpu, np.nan, np.round(rng.uniform(150, 210, rows), 2)),
            "gpu_util_pct": np.where(gpu, np.round(rng.uniform(0, 100, rows), 1), np.nan),
            "temperature_c": np.round(rng.uniform(35, 85, rows), 1),
        }
    )
    frame.to_csv(path, index=False)
    return [(device_id, "gpu" if i % 2 else "asic") for i, device_id in enumerate(ids)]


def _register_devices(url: str, devices: list[tuple[str, str]]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "insert into raw.facilities values ('qbench', 'bench', 'ERCOT', 'HB_NORTH', 'UTC', 1e6, 1.2, 0)"
        )
        with conn.cursor().copy(
            "copy raw.devices (device_id, facility_id, kind, model, nominal_power_kw, nominal_hashrate_ths, load_id)"
            " from stdin"
        ) as copy:
            for device_id, kind in devices:
                asic = kind == "asic"
                copy.write_row(
                    (device_id, "qbench", kind, "bench", 3.5 if asic else 0.7, 200.0 if asic else None, 0)
                )


def _measure(url: str, devices: int, day: date, tmp: Path, say: Callable[[str], None]) -> dict:
    from expectations.runner import run_check
    from ingestion.loader import ingest_file

    spec = next(s for s in CHECKS if s.name == "device_telemetry_suite")
    path = tmp / f"telemetry_{devices}.csv"
    say(f"{devices:,} devices: writing {devices * 288:,} readings")
    _register_devices(url, write_day_csv(path, devices, day))
    say(f"{devices:,} devices: ingest_file (parse + validate + COPY)")
    started = time.perf_counter()
    load = ingest_file(url, "telemetry", path)
    ingest_seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("analyze raw.device_telemetry")
    say(f"{devices:,} devices: telemetry suite (query + GE validation)")
    outcome = run_check(url, spec, day.isoformat())
    frames = {f.suite: round(f.seconds, 3) for f in outcome.frames}
    return {
        "devices": devices,
        "rows": load.loaded,
        "ingest_seconds": round(ingest_seconds, 3),
        "check_seconds": round(outcome.seconds, 3),
        "validate_seconds": frames,
        "ratio": round(outcome.seconds / ingest_seconds, 3),
        "passed": outcome.passed,
    }


def _warm_up() -> None:
    from expectations.runner import validate_frame

    spec = next(s for s in CHECKS if s.name == "device_telemetry_suite")
    tiny = pd.DataFrame(
        {
            "device_id": ["a"],
            "ts": [pd.Timestamp("2026-01-01", tz="UTC")],
            "power_kw": [1.0],
            "coverage": [1.0],
        }
    )
    for frame in spec.frames:
        validate_frame(frame, tiny)


def run_benchmark(
    url: str, fleets: tuple[int, ...] = DEFAULT_FLEETS, progress: Callable[[str], None] | None = None
) -> dict:
    """Check and ingest seconds per fleet size, their ratio, and the one-off GE import cost."""
    say = progress or (lambda message: None)

    started = time.perf_counter()
    from expectations.context import ephemeral_context

    ephemeral_context()  # GE's import and first validation are paid once per process, not per check
    _warm_up()
    import_seconds = time.perf_counter() - started
    day = datetime.now(UTC).date() - timedelta(days=2)
    results = []
    with scratch_database(url, "hcp_bench_quality") as scratch, tempfile.TemporaryDirectory() as tmp:
        for devices in fleets:
            with psycopg.connect(scratch, autocommit=True) as conn:
                conn.execute("truncate raw.device_telemetry, raw.devices, raw.facilities")
            results.append(_measure(scratch, devices, day, Path(tmp), say))
            (Path(tmp) / f"telemetry_{devices}.csv").unlink()
    return {
        "day": day.isoformat(),
        "interval_minutes": INTERVAL_MINUTES,
        "gx_import_seconds": round(import_seconds, 3),
        "fleets": results,
        "goal": "check_seconds / ingest_seconds <= 1",
        "goal_met": all(r["ratio"] <= 1 for r in results),
    }


def format_table(result: dict) -> str:
    """The benchmark as a small text table."""
    lines = [
        f"quality benchmark: telemetry suite on one day ({result['day']}, {result['interval_minutes']}-minute readings)",
        f"{'devices':>8}{'rows':>12}{'ingest s':>10}{'check s':>10}{'check/ingest':>14}  passed",
    ]
    for r in result["fleets"]:
        lines.append(
            f"{r['devices']:>8,}{r['rows']:>12,}{r['ingest_seconds']:>10.2f}{r['check_seconds']:>10.2f}"
            f"{r['ratio']:>14.2f}  {r['passed']}"
        )
    lines.append(
        f"one-off Great Expectations import and warm-up: {result['gx_import_seconds']:.1f} s (per process)"
    )
    lines.append(f"goal check/ingest <= 1: {'met' if result['goal_met'] else 'NOT met'}")
    return "\n".join(lines)
