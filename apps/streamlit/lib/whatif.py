"""Allocation what-if: the current problem built from marts, scenario knobs, re-solve with the numba kernel.

The problem covers the last 24 hours of data (dt = 1 h) and is built by the platform's planner,
``kernels.planning.build_problem``, with its configuration (``kernels.planning.config``: restart
costs, fallback price, hashprice and GPU rate, filled where the marts say nothing): devices and
facilities from dim_devices and dim_facilities, node prices from fct_facility_hourly, hashprice and
GPU rates as the fleet actually earned them in fct_device_hourly, demand as the GPUs that served.
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
from kernels.hashprice import ph_day_from_th_hour
from kernels.planning import Fleet, Forecast, build_problem
from kernels.planning.builder import device_pools
from kernels.planning.config import DEFAULT_PLANNING, PlanningConfig

# What-if assumptions of its own (the planner has no say on them): half of the demand is committed,
# and a fleet that served nothing in the window is asked for 70% of its GPUs.
COMMITTED_SHARE = 0.5
IDLE_FLEET_DEMAND_SHARE = 0.7
BUILDER = "kernels.planning.build_problem"
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


def _hourly_mean(hours: pd.DataFrame, column: str, intervals: pd.DatetimeIndex) -> pd.Series:
    """Per-hour mean over facilities of ``column`` (NaN where no facility has a value)."""
    if hours.empty:
        return pd.Series(np.nan, index=intervals)
    return hours.groupby("hour_start_at")[column].mean().reindex(intervals).astype(float)


def build(
    devices: pd.DataFrame,
    facilities: pd.DataFrame,
    hours: pd.DataFrame,
    config: PlanningConfig = DEFAULT_PLANNING,
) -> Base:
    """The current problem through the planner, with the last hours of realized prices, hashprice,
    GPU rates and served GPUs as the forecast (see the module docstring)."""
    intervals = pd.DatetimeIndex(sorted(hours["hour_start_at"].unique()))
    gpus = devices[devices["device_kind"] == "gpu"]
    pool_size = device_pools(gpus).value_counts().sort_index().astype(float)
    serving = hours.groupby("hour_start_at")["gpus_serving"].sum().reindex(intervals).fillna(0.0)
    if serving.sum() == 0:
        serving = pd.Series(IDLE_FLEET_DEMAND_SHARE * pool_size.sum(), index=intervals)
    share = pool_size / max(pool_size.sum(), 1.0)
    demand = pd.DataFrame(
        np.floor(np.outer(serving.to_numpy(), share.to_numpy())), index=intervals, columns=pool_size.index
    )
    rate = _hourly_mean(hours, "rate_usd_per_gpu_h", intervals)
    forecast = Forecast(
        prices_usd_mwh=hours.pivot_table(
            index="hour_start_at", columns="facility_id", values="price_usd_per_mwh"
        ),
        hashprice_usd_per_th_h=_hourly_mean(hours, "hashprice_usd_per_th_h", intervals),
        gpu_rate_usd_per_h=pd.DataFrame({pool: rate for pool in pool_size.index}, index=intervals),
        demand_gpus=demand,
        committed_gpus=np.floor(demand * COMMITTED_SHARE),
    )
    initial = dict(zip(devices["device_id"], devices["was_on"].fillna(False).astype(bool), strict=True))
    inputs = build_problem(Fleet(devices, facilities), forecast, intervals, initial, config=config)
    is_gpu = np.array([k == "gpu" for k in inputs.device_kinds])
    hashprice = ph_day_from_th_hour(float(np.mean(inputs.problem.hashprice_usd_per_th_h)))
    return Base(inputs.problem, list(inputs.facility_ids), list(intervals), is_gpu, hashprice)


@st.cache_resource(ttl=300, show_spinner="Building the current allocation problem…")
def current() -> tuple[Base, Outcome, str] | None:
    """The current problem from the marts, its solved base plan, and which builder made it."""
    devices = queries.whatif_devices()
    facilities = queries.facilities()
    hours = queries.whatif_hours(24)
    if devices.empty or facilities.empty or hours.empty:
        return None
    base = build(devices, facilities, hours)
    run(base, base.problem)  # the first solve of a process loads the kernels inside the time budget
    return base, run(base, base.problem), BUILDER
