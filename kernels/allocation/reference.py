"""The allocation problem as a MILP solved exactly by HiGHS (scipy), for tests and the benchmark."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from kernels.allocation.problem import AllocationProblem, load_kw, margins


@dataclass
class ReferenceResult:
    """HiGHS outcome: plan x (uint8[D, T]; float64 for the LP; None when none was found), its objective, the bound."""

    x: np.ndarray | None
    objective: float
    upper_bound: float
    optimal: bool
    status: str
    seconds: float


def _model(
    problem: AllocationProblem, mult: np.ndarray | None = None
) -> tuple[np.ndarray, sparse.csr_array, np.ndarray, int]:
    """Minimisation form (cost c, rows A x <= b) over [x (D*T), restart u (D*T), short s (K*T)].

    With `mult`, row d stands for mult[d] identical devices and x counts how many of them run.
    """
    p = problem.validate()
    (D, T), (F, K) = (
        p.hashrate_ths.shape + p.hashprice_usd_per_th_h.shape,
        (len(p.pue), len(p.penalty_usd_per_gpu_h)),
    )
    n_x, n_s = D * T, K * T
    cost = np.concatenate(
        [-margins(p).ravel(), np.repeat(p.restart_usd, T), np.repeat(p.penalty_usd_per_gpu_h * p.dt, T)]
    )
    d_idx, t_idx = np.divmod(np.arange(n_x), T)
    gpu = p.device_pool[d_idx] >= 0
    blocks, rhs = [], []
    # Power cap per (facility, interval).
    blocks.append((p.device_facility[d_idx] * T + t_idx, np.arange(n_x), load_kw(p)[d_idx], F * T))
    rhs.append(p.cap_kw.ravel())
    # Demand per (pool, interval).
    pool_row = p.device_pool[d_idx[gpu]] * T + t_idx[gpu]
    blocks.append((pool_row, np.flatnonzero(gpu), np.ones(gpu.sum()), K * T))
    rhs.append(p.demand_gpus.ravel().astype(float))
    # Commitment: -serving - short <= -committed.
    blocks.append(
        (
            np.concatenate([pool_row, np.arange(n_s)]),
            np.concatenate([np.flatnonzero(gpu), 2 * n_x + np.arange(n_s)]),
            -np.ones(gpu.sum() + n_s),
            n_s,
        )
    )
    rhs.append(-p.committed_gpus.ravel().astype(float))
    # Restart: x[d,t] - x[d,t-1] - u[d,t] <= 0, with x[d,-1] = initial_on as a constant.
    later = np.flatnonzero(t_idx > 0)
    blocks.append(
        (
            np.concatenate([np.arange(n_x), later, np.arange(n_x)]),
            np.concatenate([np.arange(n_x), later - 1, n_x + np.arange(n_x)]),
            np.concatenate([np.ones(n_x), -np.ones(len(later)), -np.ones(n_x)]),
            n_x,
        )
    )
    size = np.ones(D) if mult is None else mult.astype(float)
    rhs.append(np.where(t_idx == 0, (size * p.initial_on)[d_idx], 0.0))
    rows, cols, vals, offset = [], [], [], 0
    for r, c, v, n in blocks:
        rows.append(r + offset)
        cols.append(c)
        vals.append(v)
        offset += n
    A = sparse.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(offset, 2 * n_x + n_s)
    )
    return cost, A, np.concatenate(rhs), n_x


def reference(
    problem: AllocationProblem,
    time_limit: float = 60.0,
    relax: bool = False,
    mult: np.ndarray | None = None,
    rel_gap: float = 1e-4,
) -> ReferenceResult:
    """Solve the MILP (or, with relax=True, its LP relaxation) with HiGHS within `time_limit` seconds.

    objective is the best plan's value (the LP optimum when relaxed); upper_bound is HiGHS's proven
    bound on the MILP optimum (maximisation). With `mult` (classes of identical devices, see
    grouping.py) x holds counts per class and interval instead of 0/1; HiGHS stops at `rel_gap`.
    """
    cost, A, b, n_x = _model(problem, mult)
    D, T = problem.hashrate_ths.shape[0], problem.hashprice_usd_per_th_h.shape[0]
    size = np.ones(D) if mult is None else mult.astype(float)
    upper = np.concatenate([np.repeat(size, T), np.repeat(size, T), np.full(len(cost) - 2 * n_x, np.inf)])
    start = time.perf_counter()
    if relax:
        res = linprog(
            cost, A_ub=A, b_ub=b, bounds=np.c_[np.zeros(len(cost)), upper], method="highs",
            options={"time_limit": float(time_limit)},
        )  # fmt: skip
        seconds = time.perf_counter() - start
        optimal = res.status == 0
        value = -float(res.fun) if optimal else float("nan")
        x = res.x[:n_x].reshape(D, T) if optimal else None
        return ReferenceResult(x, value, value, optimal, res.message, seconds)
    integrality = np.concatenate([np.ones(n_x), np.zeros(len(cost) - n_x)])
    res = milp(
        cost, integrality=integrality, bounds=Bounds(0.0, upper), constraints=LinearConstraint(A, -np.inf, b),
        options={"time_limit": float(time_limit), "disp": False, "mip_rel_gap": rel_gap},
    )  # fmt: skip
    seconds = time.perf_counter() - start
    dtype = np.uint8 if mult is None else np.int64
    x = None if res.x is None else np.rint(res.x[:n_x]).reshape(D, T).astype(dtype)
    objective = float("nan") if res.x is None else -float(res.fun)
    bound = getattr(res, "mip_dual_bound", None)
    upper_bound = -float(bound) if bound is not None and np.isfinite(bound) else objective
    return ReferenceResult(x, objective, upper_bound, res.status == 0, res.message, seconds)
