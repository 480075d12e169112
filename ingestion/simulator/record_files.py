"""The platform's own CSV and JSONL records: reference tables, bitcoin, site meter, events, labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ingestion.simulator.clock import Clock, iso_z
from ingestion.simulator.faults import Fault
from ingestion.simulator.prices import PriceSpike

FACILITY_COLUMNS = ["facility_id", "name", "market", "price_node", "timezone", "power_cap_kw", "pue"]
DEVICE_COLUMNS = [
    "device_id", "facility_id", "kind", "model", "gpu_pool", "nominal_power_kw",
    "nominal_hashrate_ths", "rack", "rack_row", "rack_slot",
]  # fmt: skip
CUSTOMER_COLUMNS = [
    "customer_id",
    "name",
    "email",
    "billing_address",
    "tax_id",
    "timezone",
    "tax_rate",
    "customer_type",
]
FAULT_COLUMNS = ["fault_id", "device_id", "fault_type", "start_at", "end_at", "details"]
EVENT_KEYS = [
    "event_id", "workload_id", "customer_id", "event_type", "event_at", "workload_type",
    "gpu_pool", "gpus_requested", "device_ids",
]  # fmt: skip


def write_csv(path: Path, df: pd.DataFrame) -> tuple[Path, int]:
    """Write a headed, comma separated UTF-8 file; returns (path, data rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")
    return path, len(df)


def site_meter_frames(
    clock: Clock, facility_ids: list[str], meter_kw: np.ndarray
) -> list[tuple[str, pd.DataFrame]]:
    """(UTC date, facility_id/ts/power_kw rows) per day, rows in time order then facility."""
    out = []
    ts = iso_z(clock.epochs)
    for k, day in enumerate(clock.days()):
        lo, hi = k * clock.per_day, (k + 1) * clock.per_day
        n_f = len(facility_ids)
        frame = pd.DataFrame(
            {
                "facility_id": np.tile(np.array(facility_ids, dtype=object), hi - lo),
                "ts": np.repeat(ts[lo:hi], n_f),
                "power_kw": [f"{v:.2f}" for v in meter_kw[:, lo:hi].T.ravel()],
            }
        )
        out.append((day.isoformat(), frame))
    return out


def event_lines(clock: Clock, events: list[dict], rng: np.random.Generator) -> dict[str, list[str]]:
    """JSON lines per UTC day of event_at, with a few redelivered duplicates and swapped neighbours."""
    by_day: dict[str, list[str]] = {d.isoformat(): [] for d in clock.days()}
    stamps = iso_z(np.array([e["event_at"] for e in events], dtype=np.int64)) if events else []
    for e, at in zip(events, stamps, strict=True):
        line = json.dumps({k: (at if k == "event_at" else e[k]) for k in EVENT_KEYS})
        by_day.setdefault(at[:10], []).append(line)
    for lines in by_day.values():
        n = len(lines)
        if n < 4:
            continue
        # Out of order: swap a few neighbours, as a queue with several consumers delivers them.
        for i in rng.choice(n - 1, size=max(1, n // 50), replace=False):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        # Redelivery: the same event (same event_id) again, somewhat later in the file.
        for i in sorted(rng.choice(n, size=max(1, n // 100), replace=False), reverse=True):
            lines.insert(min(n, int(i) + int(rng.integers(1, 20))), lines[i])
    return by_day


def fault_frame(
    clock: Clock, device_ids: np.ndarray, faults: list[Fault], spikes: list[PriceSpike]
) -> pd.DataFrame:
    """labels/faults.csv rows: device faults and market price spikes, ordered by start."""
    step = clock.interval_minutes * 60
    rows = [
        (
            str(device_ids[f.device]),
            f.fault_type,
            clock.start_epoch + f.t0 * step,
            clock.start_epoch + f.t1 * step,
            f.details,
        )
        for f in faults
    ]
    for s in spikes:
        kind = "negative price" if s.peak_usd_per_mwh < 0 else "price spike"
        detail = f"{kind} in {s.market} at {'|'.join(s.nodes)}; peak {s.peak_usd_per_mwh:.2f} USD/MWh"
        rows.append(("", "price_spike", s.start_epoch, s.end_epoch, detail))
    rows.sort(key=lambda r: (r[2], r[1], r[0]))
    df = pd.DataFrame(rows, columns=["device_id", "fault_type", "start_at", "end_at", "details"])
    df["start_at"] = iso_z(df["start_at"].to_numpy(dtype=np.int64))
    df["end_at"] = iso_z(df["end_at"].to_numpy(dtype=np.int64))
    df.insert(0, "fault_id", [f"flt-{i + 1:04d}" for i in range(len(df))])
    return df
