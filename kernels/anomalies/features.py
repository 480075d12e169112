"""Features per device and interval from telemetry, for the detectors.

Per row: power, performance (hashrate for ASICs, GPU utilization for GPUs), efficiency (J/TH for
ASICs, W per utilization point for GPUs), temperature, temperature above ambient (ambient = the
facility's median temperature at that time), each relative to the device's own median (so one
detector serves a model's whole fleet), deltas from the previous interval, and how long the
temperature reading has repeated exactly (a stuck sensor reads a constant).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GPU_FEATURES = ("temp_resid", "temp_flatness")
FEATURES = (
    "power_ratio",
    "perf_ratio",
    "efficiency_ratio",
    "temp_above_ambient",
    "temp_above_ambient_dev",
    "d_power",
    "d_perf",
    "d_temp",
    "temp_flatness",
)
# which human-readable metric each feature speaks for
METRIC_OF = {
    "power_ratio": "power",
    "perf_ratio": "performance",
    "efficiency_ratio": "efficiency",
    "temp_above_ambient": "temperature",
    "temp_above_ambient_dev": "temperature",
    "d_power": "power",
    "d_perf": "performance",
    "d_temp": "temperature",
    "temp_flatness": "temperature_sensor",
    "temp_resid": "temperature",
}


def build_features(telemetry: pd.DataFrame) -> pd.DataFrame:
    """``telemetry`` (device_id, facility_id, kind, model, ts, power_kw, hashrate_ths, gpu_util_pct,
    temperature_c) plus the raw inputs ``perf``, ``efficiency``, ``ambient_c`` and every column of
    ``FEATURES``, sorted by device and time; missing values filled with the neutral value."""
    frame = telemetry.sort_values(["device_id", "ts"]).reset_index(drop=True).copy()
    for col in ("power_kw", "hashrate_ths", "gpu_util_pct", "temperature_c"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    is_asic = frame["kind"].eq("asic").to_numpy()
    frame["perf"] = np.where(is_asic, frame["hashrate_ths"], frame["gpu_util_pct"])
    power_w = frame["power_kw"] * 1000.0
    frame["efficiency"] = np.where(
        is_asic,
        power_w / frame["hashrate_ths"].clip(lower=1.0),
        power_w / frame["gpu_util_pct"].clip(lower=5.0),
    )
    # A curtailed ASIC (switched off by the operator when power costs more than it earns) is not
    # an anomaly: only running rows are scored, and baselines come from running rows.
    peak = frame.groupby("device_id")["power_kw"].transform(lambda s: s.quantile(0.95))
    frame["running"] = ~is_asic | (frame["power_kw"] > 0.2 * peak)
    # ambient: the facility's median at that time among running devices of the same kind, so a wave
    # of curtailment (cool idle ASICs) does not move every running device's "above ambient"
    frame["ambient_c"] = frame.groupby(["facility_id", "ts", "kind", "running"])["temperature_c"].transform(
        "median"
    )
    frame["temp_above_ambient"] = frame["temperature_c"] - frame["ambient_c"]
    run = frame.where(frame["running"])
    by_device = frame.groupby("device_id", sort=False)
    run_by_device = run.groupby(frame["device_id"], sort=False)
    for col, name in (
        ("power_kw", "power_ratio"),
        ("perf", "perf_ratio"),
        ("efficiency", "efficiency_ratio"),
    ):
        median = run_by_device[col].transform("median").abs().clip(lower=1e-6)
        frame[name] = frame[col] / median
    frame["temp_above_ambient_dev"] = frame["temp_above_ambient"] - run_by_device[
        "temp_above_ambient"
    ].transform("median")
    # GPUs: power and utilization follow the customers' workload, so ratios to a device's median
    # say nothing; temperature should follow power, so its residual from a per-model linear fit is
    # what a faulty GPU (overheating, stuck sensor) changes
    frame["temp_resid"] = 0.0
    for _, idx in frame[~is_asic].groupby("model").groups.items():
        part = frame.loc[idx]
        ok = part["power_kw"].notna() & part["temperature_c"].notna()
        if ok.sum() > 10:
            slope, intercept = np.polyfit(part.loc[ok, "power_kw"], part.loc[ok, "temperature_c"], 1)
            frame.loc[idx, "temp_resid"] = part["temperature_c"] - (intercept + slope * part["power_kw"])
    frame["temp_resid"] -= frame.groupby("device_id")["temp_resid"].transform("median")
    frame["d_power"] = by_device["power_ratio"].diff()
    frame["d_perf"] = by_device["perf_ratio"].diff()
    frame["d_temp"] = by_device["temperature_c"].diff()
    # a stuck sensor repeats the very same reading: the length of the current run of identical
    # readings (log) separates it from noisy live readings, even integer-rounded ones
    same = frame["temperature_c"].eq(by_device["temperature_c"].shift()) & frame["device_id"].eq(
        frame["device_id"].shift()
    )
    run_id = (~same).cumsum()
    frame["temp_flatness"] = np.log1p(same.groupby(run_id).cumsum())
    neutral = {"power_ratio": 1.0, "perf_ratio": 1.0, "efficiency_ratio": 1.0}
    for col in (*FEATURES, *GPU_FEATURES):
        frame[col] = frame[col].replace([np.inf, -np.inf], np.nan).fillna(neutral.get(col, 0.0))
    return frame
