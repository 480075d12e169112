"""Independent plain-NumPy scorer of a plan: the oracle the kernel is tested against."""

from __future__ import annotations

import numpy as np

from kernels.allocation.problem import AllocationProblem, load_kw, margins

# Relative slack on the power cap so a plan exactly at the cap is not reported over it by round-off.
_CAP_RTOL = 1e-9


def pool_counts(problem: AllocationProblem, x: np.ndarray) -> np.ndarray:
    """GPUs of each pool running in each interval, int64[K, T]."""
    K, T = problem.demand_gpus.shape
    counts = np.zeros((K, T), dtype=np.int64)
    gpu = problem.device_pool >= 0
    np.add.at(counts, problem.device_pool[gpu], x[gpu].astype(np.int64))
    return counts


def facility_loads(problem: AllocationProblem, x: np.ndarray) -> np.ndarray:
    """Facility draw in each interval (PUE included), float64[F, T]."""
    F, T = problem.cap_kw.shape
    loads = np.zeros((F, T))
    np.add.at(loads, problem.device_facility, load_kw(problem)[:, None] * x)
    return loads


def restarts(problem: AllocationProblem, x: np.ndarray) -> np.ndarray:
    """1 where a device is switched on (on at t, off at t-1 or initially off), bool[D, T]."""
    on = x.astype(bool)
    before = np.concatenate([problem.initial_on[:, None], on[:, :-1]], axis=1)
    return on & ~before


def shortfall(problem: AllocationProblem, x: np.ndarray) -> np.ndarray:
    """GPUs short of the commitment, max(0, committed - serving), int64[K, T]."""
    return np.maximum(0, problem.committed_gpus.astype(np.int64) - pool_counts(problem, x))


def evaluate(problem: AllocationProblem, x: np.ndarray) -> tuple[float, bool, dict[str, int]]:
    """(objective USD, feasible, violations) of plan `x` (D x T, 0/1).

    objective = margins of running devices - restart costs - shortfall penalties; violations counts
    (facility, interval) cells over the power cap and (pool, interval) cells over demand.
    """
    x = np.asarray(x)
    if x.shape != problem.hashrate_ths.shape + problem.hashprice_usd_per_th_h.shape:
        raise ValueError(f"x: expected shape (D, T), got {x.shape}")
    if np.any((x != 0) & (x != 1)):
        raise ValueError("x: entries must be 0 or 1")
    on = x.astype(bool)
    margin = float(np.sum(margins(problem), where=on))
    restart = float(np.sum(problem.restart_usd[:, None] * restarts(problem, x)))
    penalty = float(np.sum(problem.penalty_usd_per_gpu_h[:, None] * problem.dt * shortfall(problem, x)))
    cap = problem.cap_kw
    violations = {
        "power_cap": int(np.sum(facility_loads(problem, x) > cap + _CAP_RTOL * np.maximum(1.0, cap))),
        "demand": int(np.sum(pool_counts(problem, x) > problem.demand_gpus)),
    }
    return margin - restart - penalty, not any(violations.values()), violations
