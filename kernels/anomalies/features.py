"""Residual features per device and interval: how far each reading is from what the device's model
and the moment say it should be.

Raw power, hashrate and GPU utilization follow the operator's curtailment and the customers'
workload, so a detector fed with them alerts on every workload swing. What a fault changes is the
*relation* between readings:

- ``temp_resid``: temperature minus its expectation. ASICs: the facility's median at that time
  among devices of the same kind and state (running / curtailed), which carries the ambient;
  GPUs: ambient + slope x load, where load = power / the model's peak power, the slope is fitted
  once across the fleet and the ambient is the facility's median of (temperature - slope x load).
- ``eff_resid`` (ASICs, running): log(hashrate / power); a hashboard down lowers it at constant power.
- ``power_resid`` (GPUs): log(power / the model's median power at that utilization), i.e. whether
  power and utilization are consistent.
- ``flat_minutes``: how long the temperature reading has repeated exactly (a stuck sensor).

Each residual has the device's own median removed (``Calibration`` holds those medians, fitted on
history, so later rows are scored without refitting), then is turned into a robust z-score per
device model (``*_z`` columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

RESIDUALS = ("temp_resid", "eff_resid", "power_resid")
Z_COLUMNS = ("temp_z", "eff_z", "power_z")
# features the ensemble sees per device kind
KIND_FEATURES = {"asic": ("temp_z", "eff_z"), "gpu": ("temp_z", "power_z")}
METRIC_OF = {"temp_z": "temperature", "eff_z": "hashrate", "power_z": "power"}
UTIL_BIN = 5.0  # GPU utilization points per bin of the power curve


@dataclass
class Calibration:
    """What "normal" means, learnt from history: per-model peak power and power curve, the GPU
    temperature slope, per-device medians of the residuals and per-model residual scales."""

    peak_kw: dict = field(default_factory=dict)  # model -> peak power (p99)
    device_peak_kw: dict = field(default_factory=dict)  # device -> its p95 power (running or not)
    power_curve: dict = field(default_factory=dict)  # model -> {util bin: median power kW}
    gpu_slope: float = 40.0  # C per unit of load (power / peak)
    device_median: pd.DataFrame | None = None  # index (device_id, running), columns RESIDUALS
    model_scale: pd.DataFrame | None = None  # index model, columns RESIDUALS (robust sd)


def _numeric(telemetry: pd.DataFrame, cal: Calibration, fit: bool) -> pd.DataFrame:
    frame = telemetry.sort_values(["device_id", "ts"]).reset_index(drop=True).copy()
    for col in ("power_kw", "hashrate_ths", "gpu_util_pct", "temperature_c"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["is_asic"] = frame["kind"].eq("asic")
    # A curtailed ASIC (switched off because power costs more than it earns) is not an anomaly:
    # its rows get their own baselines and are never scored on hashrate.
    if fit:
        cal.device_peak_kw = frame.groupby("device_id")["power_kw"].quantile(0.95).to_dict()
    peak = frame["device_id"].map(cal.device_peak_kw).astype(float)
    frame["running"] = ~frame["is_asic"] | (frame["power_kw"] > 0.2 * peak)
    return frame


def _flat_minutes(frame: pd.DataFrame) -> np.ndarray:
    """Minutes the temperature has read exactly the same value, counted over consecutive rows of a
    device in the same state (a curtailed ASIC sits at ambient, which may read constant)."""
    same = (
        frame["temperature_c"].eq(frame["temperature_c"].shift())
        & frame["device_id"].eq(frame["device_id"].shift())
        & frame["running"].eq(frame["running"].shift())
    )
    step = frame["ts"].diff().dt.total_seconds().div(60).where(same, 0.0).fillna(0.0)
    run_id = (~same).cumsum()
    return step.groupby(run_id).cumsum().to_numpy()


def _gpu_parts(frame: pd.DataFrame, cal: Calibration, fit: bool) -> None:
    gpu = ~frame["is_asic"]
    if not gpu.any():
        return
    g = frame[gpu]
    if fit:
        cal.peak_kw.update(g.groupby("model")["power_kw"].quantile(0.99).to_dict())
    peak = g["model"].map(cal.peak_kw).astype(float)
    load = (g["power_kw"] / peak.where(peak > 0)).fillna(0.0)
    bins = (g["gpu_util_pct"].fillna(0) // UTIL_BIN).astype(int)
    if fit:
        cal.power_curve.update(
            {
                m: part.groupby(bins.loc[part.index])["power_kw"].median().to_dict()
                for m, part in g.groupby("model")
            }
        )
        # slope of temperature on load within a facility and moment (the ambient cancels out)
        keys = [g["facility_id"], g["ts"]]
        dt = g["temperature_c"] - g["temperature_c"].groupby(keys).transform("mean")
        dl = load - load.groupby(keys).transform("mean")
        ok = dt.notna() & dl.notna()
        if (dl[ok] ** 2).sum() > 0:
            cal.gpu_slope = float((dt[ok] * dl[ok]).sum() / (dl[ok] ** 2).sum())
    base = g["temperature_c"] - cal.gpu_slope * load
    ambient = base.groupby([g["facility_id"], g["ts"]]).transform("median")
    frame.loc[gpu, "temp_resid"] = base - ambient
    expected = pd.Series(
        [cal.power_curve.get(m, {}).get(b, np.nan) for m, b in zip(g["model"], bins, strict=True)],
        index=g.index,
    )
    frame.loc[gpu, "power_resid"] = np.log(g["power_kw"].clip(lower=1e-3) / expected.clip(lower=1e-3))


def residual_features(
    telemetry: pd.DataFrame, cal: Calibration | None = None
) -> tuple[pd.DataFrame, Calibration]:
    """Telemetry (device_id, facility_id, kind, model, ts, power_kw, hashrate_ths, gpu_util_pct,
    temperature_c) with ``running``, ``flat_minutes``, the residuals and their ``*_z`` scores.
    Without ``cal`` the calibration is fitted on these rows; with it, nothing is refitted."""
    fit = cal is None
    cal = cal or Calibration()
    frame = _numeric(telemetry, cal, fit)
    for col in RESIDUALS:
        frame[col] = 0.0
    asic = frame["is_asic"]
    # ASIC temperature against the facility's same-state ASICs at that moment (the ambient)
    a = frame[asic]
    frame.loc[asic, "temp_resid"] = a["temperature_c"] - a.groupby(["facility_id", "ts", "running"])[
        "temperature_c"
    ].transform("median")
    run = asic & frame["running"]
    frame.loc[run, "eff_resid"] = np.log(
        frame.loc[run, "hashrate_ths"].clip(lower=1e-3) / frame.loc[run, "power_kw"].clip(lower=1e-3)
    )
    _gpu_parts(frame, cal, fit)
    frame["flat_minutes"] = _flat_minutes(frame)
    if fit:
        cal.device_median = frame.groupby(["device_id", "running"])[list(RESIDUALS)].median()
    keys = pd.MultiIndex.from_arrays([frame["device_id"], frame["running"]])
    medians = cal.device_median.reindex(keys).fillna(0.0).to_numpy()
    centred = frame[list(RESIDUALS)].to_numpy(float) - medians
    frame[list(RESIDUALS)] = np.nan_to_num(centred, nan=0.0)
    if fit:
        mad = frame.groupby("model")[list(RESIDUALS)].agg(lambda s: (s - s.median()).abs().median() * 1.4826)
        floor = pd.Series({"temp_resid": 0.5, "eff_resid": 0.005, "power_resid": 0.005})
        cal.model_scale = mad.clip(lower=floor, axis=1)
    scale = cal.model_scale.reindex(frame["model"]).fillna(cal.model_scale.median()).to_numpy()
    z = frame[list(RESIDUALS)].to_numpy(float) / scale
    frame[list(Z_COLUMNS)] = np.clip(np.nan_to_num(z, nan=0.0), -50, 50)
    return frame, cal
