"""Build an AllocationProblem from fleet and forecast DataFrames, and read a solved plan back as rows.

Time-varying inputs live in a :class:`Forecast`: wide frames on one interval index (UTC), one column
per facility or GPU pool. Where no forecast exists, :func:`naive_forecast` derives one from history:
the same hour of the last observed day for prices and GPU demand, the latest value for hashprice,
GPU rates and commitments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kernels.allocation.evaluate import restarts
from kernels.allocation.problem import AllocationProblem, load_kw, margins
from kernels.hashprice import per_th_hour
from kernels.planning.config import DEFAULT_PLANNING, PlanningConfig

if TYPE_CHECKING:
    from kernels.allocation.solver import AllocationResult  # numba: imported by whoever solves

KINDS = ("asic", "gpu")


@dataclass
class Fleet:
    """devices: device_id, facility_id, device_kind (asic|gpu), gpu_pool, hardware_model,
    nominal_power_kw, nominal_hashrate_ths; facilities: facility_id, power_cap_kw, pue."""

    devices: pd.DataFrame
    facilities: pd.DataFrame


def _empty() -> pd.DataFrame:
    return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))


@dataclass
class Forecast:
    """Inputs per interval (index: interval start, UTC): prices_usd_mwh (columns facility_id; the
    real-time price where the node has one), hashprice_usd_per_th_h (Series), gpu_rate_usd_per_h,
    demand_gpus, committed_gpus (columns pool), day_ahead_usd_mwh (columns facility_id; the day-ahead
    price, published before its day, where the node has a day-ahead market)."""

    prices_usd_mwh: pd.DataFrame
    hashprice_usd_per_th_h: pd.Series
    gpu_rate_usd_per_h: pd.DataFrame = field(default_factory=_empty)
    demand_gpus: pd.DataFrame = field(default_factory=_empty)
    committed_gpus: pd.DataFrame = field(default_factory=_empty)
    day_ahead_usd_mwh: pd.DataFrame = field(default_factory=_empty)

    def between(self, start: pd.Timestamp, end: pd.Timestamp) -> Forecast:
        """The part of every frame in [start, end)."""

        def cut(frame):
            return frame[(frame.index >= start) & (frame.index < end)]

        return Forecast(*(cut(getattr(self, name)) for name in _FORECAST_FIELDS))

    def prefer(self, other: Forecast) -> Forecast:
        """Values of `other` where it has them (e.g. champion forecasts), self elsewhere."""
        merged = [getattr(other, n).combine_first(getattr(self, n)) for n in _FORECAST_FIELDS]
        return Forecast(*merged)


_FORECAST_FIELDS = (
    "prices_usd_mwh",
    "hashprice_usd_per_th_h",
    "gpu_rate_usd_per_h",
    "demand_gpus",
    "committed_gpus",
)


@dataclass
class PlanInputs:
    """An AllocationProblem with the labels of its axes (devices, facilities, pools, intervals)."""

    problem: AllocationProblem
    device_ids: list[str]
    device_kinds: list[str]
    facility_ids: list[str]
    pools: list[str]
    intervals: pd.DatetimeIndex


def seasonal_naive(history: pd.DataFrame | pd.Series, intervals: pd.DatetimeIndex) -> pd.DataFrame:
    """Each column at `intervals`: its value at the same time of day on the last observed day
    (the last 24 observed hours), else its latest value; NaN for a column never observed."""
    frame = history.to_frame() if isinstance(history, pd.Series) else history
    out = pd.DataFrame(index=intervals, columns=frame.columns, dtype=float)
    target_tod = intervals - intervals.floor("D")
    for column in frame.columns:
        observed = frame[column].dropna()
        if observed.empty:
            continue
        last_day = observed[observed.index > observed.index.max() - pd.Timedelta(hours=24)]
        profile = last_day.groupby(last_day.index - last_day.index.floor("D")).last()
        values = profile.reindex(target_tod).to_numpy(dtype=float)
        out[column] = np.where(np.isnan(values), float(observed.iloc[-1]), values)
    return out


def latest(history: pd.DataFrame | pd.Series, intervals: pd.DatetimeIndex) -> pd.DataFrame:
    """Each column's latest observed value repeated over `intervals` (NaN if never observed)."""
    frame = history.to_frame() if isinstance(history, pd.Series) else history
    last = frame.ffill().iloc[-1] if len(frame) else pd.Series(np.nan, index=frame.columns)
    return pd.DataFrame({c: np.full(len(intervals), float(last[c])) for c in frame.columns}, index=intervals)


def clip_spikes(history: pd.DataFrame, mads: float) -> pd.DataFrame:
    """Each column capped at its median + `mads` x its median absolute deviation: a scarcity spike
    seen yesterday is not a forecast for today."""
    median = history.median()
    mad = (history - median).abs().median()
    return history.clip(upper=median + mads * mad.clip(lower=1.0), axis=1)


def recent_max(history: pd.DataFrame, intervals: pd.DatetimeIndex, hours: float = 24.0) -> pd.DataFrame:
    """Each column's maximum over its last `hours` observed hours, repeated over `intervals`."""
    out = pd.DataFrame(index=intervals, columns=history.columns, dtype=float)
    for column in history.columns:
        observed = history[column].dropna()
        if len(observed):
            out[column] = float(
                observed[observed.index > observed.index.max() - pd.Timedelta(hours=hours)].max()
            )
    return out


def naive_forecast(
    history: Forecast,
    intervals: pd.DatetimeIndex,
    day_ahead: pd.DataFrame | None = None,
    spike_mads: float = 6.0,
) -> Forecast:
    """Forecast for `intervals` from what is known before them: the day-ahead price where published
    (`day_ahead`, columns facility_id), else the seasonal naive of spike-clipped observed prices;
    the most GPUs of each pool in use over the last observed day (a GPU kept ready costs its idle
    draw, a lost sale its rate); the latest hashprice, GPU rates and commitments."""
    hashprice = latest(history.hashprice_usd_per_th_h.rename("hashprice"), intervals)["hashprice"]
    prices = seasonal_naive(clip_spikes(history.prices_usd_mwh, spike_mads), intervals)
    if day_ahead is not None and not day_ahead.empty:
        prices = day_ahead.reindex(intervals).combine_first(prices)
    return Forecast(
        prices_usd_mwh=prices,
        hashprice_usd_per_th_h=hashprice,
        gpu_rate_usd_per_h=latest(history.gpu_rate_usd_per_h, intervals),
        demand_gpus=recent_max(history.demand_gpus, intervals),
        committed_gpus=latest(history.committed_gpus, intervals),
    )


def device_pools(devices: pd.DataFrame) -> pd.Series:
    """GPU pool name of each GPU (gpu_pool, else its hardware model), None for an ASIC."""
    gpu = devices["device_kind"] == "gpu"
    model = devices["hardware_model"] if "hardware_model" in devices else pd.Series(None, index=devices.index)
    return devices["gpu_pool"].fillna(model).fillna("default").where(gpu)


def _columns(
    frame: pd.DataFrame, labels: list[str], intervals: pd.DatetimeIndex, default: float
) -> np.ndarray:
    """frame reindexed to (labels x intervals), gaps filled along time, then `default`: float64[L, T]."""
    wide = frame.reindex(index=intervals, columns=labels).astype(float).ffill().bfill()
    return wide.fillna(default).to_numpy(dtype=np.float64).T.copy()


def _device_fields(
    devices: pd.DataFrame,
    facility_ids: list[str],
    pools: list[str],
    initial_on: Mapping[str, bool],
    config: PlanningConfig,
) -> dict[str, np.ndarray]:
    """The per-device arrays of the problem (D)."""
    is_gpu = (devices["device_kind"] == "gpu").to_numpy()
    pool_index = {p: i for i, p in enumerate(pools)}
    hashrate = devices["nominal_hashrate_ths"].astype(float).fillna(0.0).clip(lower=0).to_numpy()
    return {
        "device_facility": devices["facility_id"]
        .map({f: i for i, f in enumerate(facility_ids)})
        .to_numpy(np.int32),
        "device_pool": np.array([pool_index.get(p, -1) for p in device_pools(devices)], dtype=np.int32),
        "power_kw": devices["nominal_power_kw"].astype(float).fillna(0.0).clip(lower=0).to_numpy(np.float64),
        "hashrate_ths": np.where(is_gpu, 0.0, hashrate).astype(np.float64),
        "restart_usd": np.where(is_gpu, config.restart_usd_gpu, config.restart_usd_asic).astype(np.float64),
        "initial_on": np.array(
            [bool(initial_on.get(d, False)) for d in devices["device_id"]], dtype=np.bool_
        ),
    }


def _facility_fields(
    facilities: pd.DataFrame,
    devices: dict[str, np.ndarray],
    forecast: Forecast,
    intervals: pd.DatetimeIndex,
    config: PlanningConfig,
) -> dict[str, np.ndarray]:
    """The per-facility arrays (F, F x T); a missing cap is the draw of all its devices."""
    pue = facilities["pue"].astype(float).fillna(1.0).to_numpy(np.float64)
    fac = devices["device_facility"]
    uncapped = np.bincount(fac, weights=devices["power_kw"] * pue[fac], minlength=len(facilities))
    cap = facilities["power_cap_kw"].astype(float).to_numpy()
    cap = np.clip(np.where(np.isnan(cap), uncapped, cap), 0, None)
    prices = _columns(
        forecast.prices_usd_mwh, list(facilities.index), intervals, config.default_price_usd_mwh
    )
    return {
        "pue": pue,
        "cap_kw": np.repeat(cap[:, None], len(intervals), axis=1).astype(np.float64),
        "price_usd_mwh": prices,
    }


def _pool_fields(
    forecast: Forecast,
    pools: list[str],
    intervals: pd.DatetimeIndex,
    penalties: Mapping[str, float],
    config: PlanningConfig,
) -> dict[str, np.ndarray]:
    """The per-pool arrays (K x T, K) and the hashprice (T); demand is raised to the commitment."""
    rate = _columns(forecast.gpu_rate_usd_per_h, pools, intervals, config.default_gpu_rate_usd_per_h)
    committed = np.rint(_columns(forecast.committed_gpus, pools, intervals, 0.0)).clip(min=0)
    demand = np.floor(_columns(forecast.demand_gpus, pools, intervals, 0.0) + 1e-9).clip(min=0)
    hashprice = forecast.hashprice_usd_per_th_h.reindex(intervals).astype(float).ffill().bfill()
    default_penalty = config.penalty_rate_multiple * (
        rate.mean(axis=1) if len(intervals) else np.zeros(len(pools))
    )
    return {
        "hashprice_usd_per_th_h": hashprice.fillna(
            per_th_hour(config.default_hashprice_usd_per_th_day)
        ).to_numpy(np.float64),
        "rate_usd_per_gpu_h": rate,
        "demand_gpus": np.maximum(demand, committed).astype(np.int32),
        "committed_gpus": committed.astype(np.int32),
        "penalty_usd_per_gpu_h": np.array(
            [penalties.get(p, default_penalty[k]) for k, p in enumerate(pools)], dtype=np.float64
        ),
    }


def build_problem(
    fleet: Fleet,
    forecast: Forecast,
    intervals: pd.DatetimeIndex,
    initial_on: Mapping[str, bool] | None = None,
    penalty_usd_per_gpu_h: Mapping[str, float] | None = None,
    config: PlanningConfig = DEFAULT_PLANNING,
) -> PlanInputs:
    """The validated AllocationProblem over `intervals` (dt = config.dt_hours) for ASICs and GPUs of
    the fleet. Missing caps mean unconstrained, missing PUE 1, missing prices or rates the config
    defaults; demand is raised to the commitment (committed GPUs are sold by contract)."""
    kinds = fleet.devices["device_kind"].isin(KINDS)
    devices = fleet.devices[kinds].sort_values("device_id").reset_index(drop=True)
    facility_ids = sorted(set(fleet.facilities["facility_id"]) | set(devices["facility_id"]))
    facilities = fleet.facilities.set_index("facility_id").reindex(facility_ids)
    pools = sorted(device_pools(devices).dropna().unique())
    device_fields = _device_fields(devices, facility_ids, pools, initial_on or {}, config)
    problem = AllocationProblem(
        dt=float(config.dt_hours),
        **device_fields,
        **_facility_fields(facilities, device_fields, forecast, intervals, config),
        **_pool_fields(forecast, pools, intervals, penalty_usd_per_gpu_h or {}, config),
    ).validate()
    return PlanInputs(
        problem=problem,
        device_ids=devices["device_id"].tolist(),
        device_kinds=devices["device_kind"].tolist(),
        facility_ids=facility_ids,
        pools=pools,
        intervals=intervals,
    )


def plan_rows(inputs: PlanInputs, result: AllocationResult) -> pd.DataFrame:
    """One row per device and interval: device_id, interval_start, mode (mining|inference|curtailed),
    expected_margin_usd (margin when running, minus the restart cost when switched on), reason."""
    p, x = inputs.problem, result.x.astype(bool)
    D, T = x.shape
    margin = np.where(x, margins(p), 0.0) - p.restart_usd[:, None] * restarts(p, result.x)
    is_gpu = (p.device_pool >= 0)[:, None]
    mode = np.where(x, np.where(is_gpu, "inference", "mining"), "curtailed")
    names = np.array(
        [result.reason_names.get(int(c), str(int(c))) for c in range(max(result.reason_names) + 1)]
    )
    reason = names[np.clip(result.reason, 0, len(names) - 1)]
    return pd.DataFrame(
        {
            "device_id": np.repeat(inputs.device_ids, T),
            "interval_start": np.tile(inputs.intervals, D),
            "mode": mode.ravel(),
            "expected_margin_usd": margin.ravel(),
            "reason": reason.ravel(),
        }
    )


def facility_summary(inputs: PlanInputs, x: np.ndarray) -> pd.DataFrame:
    """One row per facility and interval: facility_id, interval_start, mw_mining, mw_inference,
    mw_curtailed (draw at the meter, PUE included), cap_mw, expected_profit_usd (margins - restarts;
    pool shortfall penalties are not attributed to facilities)."""
    p = inputs.problem
    on = x.astype(bool)
    F, T = p.cap_kw.shape
    kw = load_kw(p)[:, None]
    is_gpu = (p.device_pool >= 0)[:, None]
    profit = np.where(on, margins(p), 0.0) - p.restart_usd[:, None] * restarts(p, x)

    def per_facility(values: np.ndarray) -> np.ndarray:
        out = np.zeros((F, T))
        np.add.at(out, p.device_facility, values)
        return out

    return pd.DataFrame(
        {
            "facility_id": np.repeat(inputs.facility_ids, T),
            "interval_start": np.tile(inputs.intervals, F),
            "mw_mining": (per_facility(kw * (on & ~is_gpu)) / 1000).ravel(),
            "mw_inference": (per_facility(kw * (on & is_gpu)) / 1000).ravel(),
            "mw_curtailed": (per_facility(kw * ~on) / 1000).ravel(),
            "cap_mw": (p.cap_kw / 1000).ravel(),
            "expected_profit_usd": per_facility(profit).ravel(),
        }
    )
