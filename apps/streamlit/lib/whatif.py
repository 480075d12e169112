"""Allocation what-if: the current problem built from marts, scenario knobs, re-solve with the numba kernel.

The problem covers the last 24 hours of data (dt = 1 h): devices and facilities from dim_devices and
dim_facilities, node prices from fct_facility_hourly, hashprice and GPU rates as the fleet actually
earned them in fct_device_hourly, demand as the GPUs that served. Missing inputs fall back to
documented defaults so the page works on a young database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import streamlit as st

from apps.streamlit.lib import queries
from kernels.allocation import AllocationProblem, solve
from kernels.config import AllocationConfig

DEFAULT_HASHPRICE_USD_PER_PH_DAY = 50.0
DEFAULT_RATE_USD_PER_GPU_H = 2.0
DEFAULT_PRICE_USD_MWH = 40.0
RESTART_ASIC_USD, RESTART_GPU_USD = 0.2, 1.0
COMMITTED_SHARE = 0.5
# Interactive budget: fewer multiplier iterations and one polishing pass keep a re-solve of the
# default fleet well under a second; the gap is shown next to the result.
INTERACTIVE = AllocationConfig(max_iterations=30, time_limit_s=0.4, polish_passes=1)


@dataclass(frozen=True)
class Scenario:
    """Knobs of a what-if: multipliers on prices and demand, hashprice override, cap per facility (%)."""

    price_multiplier: float = 1.0
    hashprice_usd_per_ph_day: float | None = None
    gpu_demand_multiplier: float = 1.0
    cap_pct: dict[str, float] = field(default_factory=dict)


@dataclass
class Base:
    """The current problem and what the scenario knobs apply to."""

    problem: AllocationProblem
    facility_ids: list[str]
    hours: list[pd.Timestamp]
    is_gpu: np.ndarray
    hashprice_usd_per_ph_day: float


@dataclass
class Outcome:
    """A solved plan: profit, bound gap, seconds, and MW by mode per interval."""

    objective: float
    gap: float
    seconds: float
    mw: pd.DataFrame
    running: int


def _grid(hours: pd.DataFrame, column: str, facility_ids: list[str], times: list) -> np.ndarray:
    if hours.empty:
        return np.full((len(facility_ids), len(times)), np.nan)
    wide = hours.pivot_table(index="facility_id", columns="hour_start_at", values=column, aggfunc="mean")
    return wide.reindex(index=facility_ids, columns=times).to_numpy(dtype=float)


def _finite_mean(grid: np.ndarray) -> np.ndarray:
    """Per-interval mean over facilities of the finite values; NaN where an interval has none."""
    finite = np.isfinite(grid)
    counts = finite.sum(axis=0)
    sums = np.where(finite, grid, 0.0).sum(axis=0)
    return np.divide(sums, counts, out=np.full(grid.shape[1], np.nan), where=counts > 0)


def build_base(devices: pd.DataFrame, facilities: pd.DataFrame, hours: pd.DataFrame) -> Base:
    """The current allocation problem from the marts frames (see the module docstring)."""
    facility_ids = facilities["facility_id"].tolist()
    fidx = {f: i for i, f in enumerate(facility_ids)}
    devices = devices[devices["facility_id"].isin(fidx)].reset_index(drop=True)
    times = sorted(hours["hour_start_at"].unique()) if not hours.empty else list(range(24))
    T = len(times)
    is_gpu = (devices["device_kind"] == "gpu").to_numpy()
    pools = sorted(devices.loc[is_gpu, "gpu_pool"].fillna("default").unique())
    pidx = {p: i for i, p in enumerate(pools)}
    pool = np.array(
        [pidx[p] if g else -1 for p, g in zip(devices["gpu_pool"].fillna("default"), is_gpu, strict=True)],
        dtype=np.int32,
    )

    price = _grid(hours, "price_usd_per_mwh", facility_ids, times)
    price = np.where(
        np.isnan(price), np.nanmean(price) if np.isfinite(price).any() else DEFAULT_PRICE_USD_MWH, price
    )
    hp = _grid(hours, "hashprice_usd_per_th_h", facility_ids, times)
    hp_t = _finite_mean(hp)
    default_hp = DEFAULT_HASHPRICE_USD_PER_PH_DAY / 1000 / 24
    hp_t = np.where(np.isfinite(hp_t), hp_t, np.nanmedian(hp_t) if np.isfinite(hp_t).any() else default_hp)
    rate = _grid(hours, "rate_usd_per_gpu_h", facility_ids, times)
    rate_t = _finite_mean(rate)
    rate_t = np.where(
        np.isfinite(rate_t),
        rate_t,
        np.nanmedian(rate_t) if np.isfinite(rate_t).any() else DEFAULT_RATE_USD_PER_GPU_H,
    )
    serving = np.nansum(_grid(hours, "gpus_serving", facility_ids, times), axis=0)
    pool_size = np.bincount(pool[is_gpu], minlength=len(pools)).astype(float)
    share = pool_size / max(pool_size.sum(), 1.0)
    if serving.sum() == 0:
        serving = np.full(T, 0.7 * pool_size.sum())
    demand = np.floor(share[:, None] * serving[None, :]).astype(np.int32)

    pue = facilities["pue"].astype(float).to_numpy()
    cap = np.repeat(facilities["power_cap_kw"].astype(float).to_numpy()[:, None], T, axis=1)
    problem = AllocationProblem(
        dt=1.0,
        device_facility=devices["facility_id"].map(fidx).to_numpy(dtype=np.int32),
        device_pool=pool,
        power_kw=devices["nominal_power_kw"].astype(float).to_numpy(),
        hashrate_ths=np.where(is_gpu, 0.0, devices["nominal_hashrate_ths"].fillna(0).astype(float)),
        restart_usd=np.where(is_gpu, RESTART_GPU_USD, RESTART_ASIC_USD).astype(float),
        initial_on=devices["was_on"].fillna(False).to_numpy(dtype=bool),
        pue=pue,
        cap_kw=cap,
        price_usd_mwh=price.astype(float),
        hashprice_usd_per_th_h=hp_t.astype(float),
        rate_usd_per_gpu_h=np.repeat(rate_t[None, :], len(pools), axis=0).astype(float),
        demand_gpus=demand,
        committed_gpus=np.floor(demand * COMMITTED_SHARE).astype(np.int32),
        penalty_usd_per_gpu_h=np.full(len(pools), 2 * float(np.mean(rate_t))),
    ).validate()
    return Base(problem, facility_ids, list(times), is_gpu, float(np.mean(hp_t)) * 1000 * 24)


def apply(base: Base, scenario: Scenario) -> AllocationProblem:
    """The base problem with the scenario's knobs applied."""
    p = base.problem
    cap_scale = np.array([scenario.cap_pct.get(f, 100.0) / 100 for f in base.facility_ids])[:, None]
    hashprice = p.hashprice_usd_per_th_h
    target = scenario.hashprice_usd_per_ph_day
    # the slider shows the base hashprice rounded to 0.1: within that, it is the base value
    if (
        target is not None
        and base.hashprice_usd_per_ph_day > 0
        and abs(target - base.hashprice_usd_per_ph_day) > 0.06
    ):
        hashprice = hashprice * (target / base.hashprice_usd_per_ph_day)
    demand = np.floor(p.demand_gpus * scenario.gpu_demand_multiplier).astype(np.int32)
    return replace(
        p,
        price_usd_mwh=p.price_usd_mwh * scenario.price_multiplier,
        hashprice_usd_per_th_h=hashprice,
        cap_kw=p.cap_kw * cap_scale,
        demand_gpus=demand,
        committed_gpus=np.minimum(p.committed_gpus, demand).astype(np.int32),
    ).validate()


def run(base: Base, problem: AllocationProblem) -> Outcome:
    """Solve ``problem`` with the kernel and summarize MW by mode per interval."""
    start = time.perf_counter()
    result = solve(problem, INTERACTIVE)
    seconds = time.perf_counter() - start
    draw = problem.power_kw * problem.pue[problem.device_facility]
    x = result.x.astype(float)
    mine = (x[~base.is_gpu] * draw[~base.is_gpu, None]).sum(axis=0) / 1000
    serve = (x[base.is_gpu] * draw[base.is_gpu, None]).sum(axis=0) / 1000
    T = x.shape[1]
    mw = pd.DataFrame(
        {
            "interval": np.tile(np.arange(T), 2),
            "mode": ["mine"] * T + ["serve"] * T,
            "mw": np.concatenate([mine, serve]),
        }
    )
    return Outcome(float(result.objective), float(result.gap), seconds, mw, int(result.x[:, -1].sum()))


def build_with_planner(devices: pd.DataFrame, facilities: pd.DataFrame, hours: pd.DataFrame) -> Base:
    """The current problem through the platform's planner (kernels.planning.build_problem), with the
    last 24 hours of realized prices, hashprice, GPU rates and demand as the forecast."""
    from kernels.planning import Fleet, Forecast, build_problem

    intervals = pd.DatetimeIndex(sorted(hours["hour_start_at"].unique()))
    base = build_base(devices, facilities, hours)  # demand split per pool, initial state
    pools = sorted(devices.loc[devices["device_kind"] == "gpu", "gpu_pool"].fillna("default").unique())
    p = base.problem
    forecast = Forecast(
        prices_usd_mwh=hours.pivot_table(
            index="hour_start_at", columns="facility_id", values="price_usd_per_mwh"
        ),
        hashprice_usd_per_th_h=pd.Series(p.hashprice_usd_per_th_h, index=intervals),
        gpu_rate_usd_per_h=pd.DataFrame(p.rate_usd_per_gpu_h.T, index=intervals, columns=pools),
        demand_gpus=pd.DataFrame(p.demand_gpus.T, index=intervals, columns=pools),
        committed_gpus=pd.DataFrame(p.committed_gpus.T, index=intervals, columns=pools),
    )
    initial = dict(zip(devices["device_id"], devices["was_on"].fillna(False).astype(bool), strict=True))
    inputs = build_problem(Fleet(devices, facilities), forecast, intervals, initial)
    is_gpu = np.array([k == "gpu" for k in inputs.device_kinds])
    hashprice = float(np.mean(inputs.problem.hashprice_usd_per_th_h)) * 1000 * 24
    return Base(inputs.problem, list(inputs.facility_ids), list(intervals), is_gpu, hashprice)


@st.cache_resource(ttl=300, show_spinner="Building the current allocation problem…")
def current() -> tuple[Base, Outcome, str] | None:
    """The current problem from the marts, its solved base plan, and which builder made it."""
    devices = queries.whatif_devices()
    facilities = queries.facilities()
    hours = queries.whatif_hours(24)
    if devices.empty or facilities.empty:
        return None
    try:
        base, builder = build_with_planner(devices, facilities, hours), "kernels.planning.build_problem"
    except (ImportError, KeyError, ValueError, TypeError):
        base, builder = build_base(devices, facilities, hours), "apps/streamlit/lib/whatif.build_base"
    run(base, base.problem)  # the first solve of a process loads the kernels inside the time budget
    return base, run(base, base.problem), builder
