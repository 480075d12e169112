"""Which faults are injected where: devices, windows and the labels written to labels/faults.csv."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingestion.simulator.clock import Clock

DEVICE_FAULTS = (
    "overheating",
    "hashboard_failure",
    "stuck_sensor",
    "offline",
    "late_telemetry",
    "duplicated_telemetry",
)
# Window length in hours (low, high) per fault type.
_HOURS = {
    "overheating": (1.0, 4.0),
    "hashboard_failure": (6.0, 36.0),
    "stuck_sensor": (2.0, 12.0),
    "offline": (0.5, 6.0),
    "late_telemetry": (1.0, 3.0),
    "duplicated_telemetry": (0.5, 2.0),
}


@dataclass
class Fault:
    fault_type: str
    device: int  # row in the devices table, -1 for market faults
    t0: int  # first interval index affected
    t1: int  # first interval index no longer affected
    details: str = ""


def fault_count(devices: int, days: int) -> int:
    """Number of device faults for a fleet: about one per 250 device-days, at least one of each type."""
    return min(devices, max(len(DEVICE_FAULTS), round(devices * days / 250)))


def plan_device_faults(clock: Clock, is_gpu: np.ndarray, rng: np.random.Generator) -> list[Fault]:
    """Device faults on distinct devices, spread over the days; windows never cross a UTC day end
    for the file-level faults (late and duplicated rows) so each stays within one daily file."""
    n_days = len(clock.days())
    n = fault_count(len(is_gpu), n_days)
    asics = np.flatnonzero(~is_gpu)
    chosen: set[int] = set()
    faults = []
    per_hour = 60 // clock.interval_minutes if clock.interval_minutes <= 60 else 1
    for i in range(n):
        kind = DEVICE_FAULTS[i % len(DEVICE_FAULTS)]
        if kind == "late_telemetry" and n_days < 2:
            kind = "offline"  # late rows need a next day's file to land in
        pool = asics if kind == "hashboard_failure" else np.arange(len(is_gpu))
        pool = np.array([d for d in pool if d not in chosen]) if chosen else pool
        if len(pool) == 0:
            break
        device = int(rng.choice(pool))
        chosen.add(device)
        lo, hi = _HOURS[kind]
        length = max(1, round(float(rng.uniform(lo, hi)) * per_hour))
        if kind == "late_telemetry":
            day = int(rng.integers(n_days - 1))
            t1 = (day + 1) * clock.per_day  # the last hours of day D arrive with day D+1
            t0 = t1 - min(length, clock.per_day)
        elif kind == "duplicated_telemetry":
            day = int(rng.integers(n_days))
            length = min(length, clock.per_day)
            t0 = day * clock.per_day + int(rng.integers(clock.per_day - length + 1))
            t1 = t0 + length
        else:
            length = min(length, clock.n - 1)
            t0 = int(rng.integers(1, clock.n - length + 1))
            t1 = t0 + length
        faults.append(Fault(kind, device, t0, t1))
    return faults
