"""Public entry point of the allocation kernel: Lagrangian relaxation + repair + single-device polishing."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np

from kernels.allocation import _kernels as K
from kernels.allocation.grouping import DeviceClasses, class_problem, device_classes, expand
from kernels.allocation.problem import AllocationProblem, load_kw
from kernels.allocation.reference import reference
from kernels.config import DEFAULT_ALLOCATION, AllocationConfig

REASONS: dict[int, str] = {
    K.RUNNING: "running",
    K.PRICE_ABOVE_BREAKEVEN: "price_above_breakeven",
    K.POWER_CAP_BINDING: "power_cap_binding",
    K.DEMAND_EXHAUSTED: "demand_exhausted",
    K.RESTART_NOT_WORTH_IT: "restart_not_worth_it",
}


@dataclass
class AllocationResult:
    """A feasible plan x (uint8[D, T]), its objective (USD), a proven upper bound and the relative gap.

    shortfall[K, T] counts GPUs short of the commitment; reason[D, T] holds a code of REASONS
    (0 = running) explaining each off slot.
    """

    x: np.ndarray
    objective: float
    upper_bound: float
    gap: float
    shortfall: np.ndarray
    reason: np.ndarray
    iterations: int
    seconds: float
    reason_names: dict[int, str] = field(default_factory=lambda: dict(REASONS))


class _Arrays:
    """The problem pre-scaled for the kernels (money per interval, draw with PUE) and their common arguments."""

    def __init__(self, p: AllocationProblem, tol: float, mult: np.ndarray | None = None) -> None:
        # devices each row stands for (identical devices grouped into one row; 1 without grouping)
        self.mult = np.ones(len(p.power_kw), dtype=np.int64) if mult is None else mult
        self.fac = p.device_facility
        self.hr = p.hashrate_ths
        self.pool = p.device_pool
        self.w = load_kw(p)
        self.restart = p.restart_usd
        self.initial_on = p.initial_on.astype(np.uint8)
        self.hashprice_dt = p.dt * p.hashprice_usd_per_th_h
        self.rate_dt = p.dt * p.rate_usd_per_gpu_h
        self.energy = p.dt * p.price_usd_mwh / 1000.0
        self.cap = p.cap_kw
        self.demand = p.demand_gpus.astype(np.int64)
        self.committed = p.committed_gpus.astype(np.int64)
        # Commitment beyond demand can never be served: its penalty is a constant.
        self.committed_eff = np.minimum(self.committed, self.demand)
        self.bonus = p.dt * p.penalty_usd_per_gpu_h
        self.fixed_penalty = float(np.sum(self.bonus[:, None] * (self.committed - self.committed_eff)))
        # Devices grouped by facility, best average margin per kW first, so greedy passes favour them.
        self.fac_order = _facility_order(self)
        self.fac_start = np.searchsorted(self.fac[self.fac_order], np.arange(len(p.pue) + 1)).astype(np.int64)
        gpus = np.flatnonzero(self.pool >= 0)
        self.pool_order = gpus[np.argsort(self.pool[gpus], kind="stable")].astype(np.int64)
        self.pool_start = np.searchsorted(self.pool[self.pool_order], np.arange(len(self.bonus) + 1)).astype(
            np.int64
        )
        self.tol = tol
        if (
            mult is not None
        ):  # membership matrices: facility load and pool count of class counts in one product
            self.fac_onehot = (self.fac[None, :] == np.arange(len(p.pue))[:, None]).astype(np.float64)
            self.pool_onehot = (self.pool[None, :] == np.arange(len(self.bonus))[:, None]).astype(np.int64)

    def model(self) -> tuple:
        """Arguments shared by repair, polish and exact_columns after (x[, load, count])."""
        return (self.fac, self.pool, self.w, self.hr, self.restart, self.initial_on, self.hashprice_dt,
                self.rate_dt, self.energy, self.cap, self.demand, self.committed, self.bonus)  # fmt: skip

    def penalty(self, count: np.ndarray) -> float:
        """Shortfall penalty (USD) of pool counts [K, T]."""
        return float(np.sum(self.bonus[:, None] * np.maximum(0, self.committed - count)))


def _facility_order(a: _Arrays) -> np.ndarray:
    """Device indices grouped by facility, by mean margin per kW (best first) within each, int64[D]."""
    # Margins are linear in the prices, so the mean margin comes from the mean prices.
    gpu_revenue = np.append(a.rate_dt.mean(axis=1), 0.0) if a.rate_dt.size else np.zeros(1)
    revenue = np.where(a.pool >= 0, gpu_revenue[a.pool], a.hr * a.hashprice_dt.mean())
    margin = revenue - a.w * a.energy.mean(axis=1)[a.fac]
    per_kw = margin / np.maximum(a.w, 1e-9)
    return np.lexsort((-per_kw, a.fac)).astype(np.int64)


def _evaluate_plan(a: _Arrays, x: np.ndarray, chunk: int) -> tuple[float, np.ndarray, np.ndarray]:
    """(objective of plan x, facility load [F, T], pool count [K, T])."""
    value, load, count = K.score(a.fac, a.pool, a.w, a.hr, a.restart, a.initial_on, a.hashprice_dt, a.rate_dt,
                                 a.energy, x, chunk)  # fmt: skip
    return value - a.penalty(count), load, count


def _repaired(a: _Arrays, x: np.ndarray, cfg: AllocationConfig) -> tuple[float, np.ndarray, np.ndarray]:
    """Repair x in place into a feasible plan; returns (objective, load [F, T], count [K, T])."""
    xt = np.ascontiguousarray(x.T)
    K.repair(xt, *a.model(), a.fac_order, a.fac_start, a.pool_order, a.pool_start, a.tol)
    x[:] = xt.T
    return _evaluate_plan(a, x, cfg.chunk_devices)


def _dual_constant(a: _Arrays, lam: np.ndarray, pi: np.ndarray) -> float:
    """Terms of the Lagrangian bound that do not depend on the device paths."""
    pool_rhs = np.where(pi >= 0, a.committed_eff, a.demand)
    return float(np.sum(lam * a.cap) - np.sum(pi * pool_rhs)) - a.fixed_penalty


def _subgradients(a: _Arrays, lam, pi, load, count) -> tuple[np.ndarray, np.ndarray]:
    """Directions that lower the bound (the constraint violations), zeroed where the projection blocks them."""
    g_lam = load - a.cap
    g_lam[(lam <= 0) & (g_lam < 0)] = 0.0
    over = np.maximum(count - a.demand, 0)
    under = np.minimum(count - a.committed_eff, 0)
    g_pi = np.where(pi > 0, count - a.committed_eff, np.where(pi < 0, count - a.demand, over + under))
    g_pi = -g_pi.astype(float)  # a higher pool price draws more GPUs: move against the excess
    g_pi[(pi >= a.bonus[:, None]) & (g_pi > 0)] = 0.0
    return g_lam, g_pi


def solve(problem: AllocationProblem, config: AllocationConfig = DEFAULT_ALLOCATION) -> AllocationResult:
    """Best feasible plan found within the configured budget, with a Lagrangian upper bound on the optimum."""
    start = time.perf_counter()
    problem.validate()
    cells = problem.hashrate_ths.shape[0] * problem.hashprice_usd_per_th_h.shape[0]
    threads = config.threads or (1 if cells < config.parallel_min_cells else numba.config.NUMBA_NUM_THREADS)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        return _solve(problem, config, start)
    finally:
        numba.set_num_threads(previous)


def _solve(problem: AllocationProblem, cfg: AllocationConfig, start: float) -> AllocationResult:
    classes = device_classes(problem) if cfg.group_max_share > 0 else None
    if classes is not None and len(classes) <= cfg.group_max_share * len(classes.cls):
        return _solve_grouped(problem, classes, cfg, start)
    a = _Arrays(problem, cfg.cap_tolerance_kw)

    def primal(x: np.ndarray) -> tuple[float, np.ndarray]:
        candidate = x.copy()
        return _repaired(a, candidate, cfg)[0], candidate

    best_x, best_ub, iteration = _dual_ascent(a, cfg, start, primal, cfg.max_iterations, cfg.repair_every)
    return _finish(a, cfg, best_x, best_ub, iteration, start)


def _dual_ascent(
    a: _Arrays,
    cfg: AllocationConfig,
    start: float,
    primal: Callable[[np.ndarray], tuple[float, np.ndarray]],
    max_iterations: int,
    repair_every: int,
    relax: Callable = K.relax,
) -> tuple[np.ndarray, float, int]:
    """Subgradient steps on the multipliers; `primal` turns relaxed paths into (objective, feasible plan).

    Returns (best plan, best upper bound, iterations).
    """
    D, T = a.hr.shape[0], a.hashprice_dt.shape[0]
    lam = K.clearing_prices(a.fac_order, a.fac_start, a.pool, a.w, a.hr, a.hashprice_dt, a.rate_dt, a.energy,
                            a.fac, a.cap, a.mult)  # fmt: skip
    pi = K.pool_prices(a.pool_order, a.pool_start, a.fac, a.w, a.rate_dt, a.energy, lam, a.demand, a.committed_eff,
                       a.bonus, a.mult)  # fmt: skip
    x = np.zeros((D, T), dtype=np.uint8)
    best_x, best_obj, best_ub = None, -np.inf, np.inf
    theta, stall, iteration = cfg.step_initial, 0, 0
    for iteration in range(1, max_iterations + 1):
        paths, load, count = relax(a.fac, a.pool, a.w, a.hr, a.restart, a.initial_on, a.hashprice_dt, a.rate_dt,
                                     a.energy, lam, pi, x, cfg.chunk_devices, a.mult)  # fmt: skip
        ub = paths + _dual_constant(a, lam, pi)
        if ub < best_ub - 1e-9 * abs(best_ub if np.isfinite(best_ub) else 1.0):
            best_ub, stall = ub, 0
        else:
            stall += 1
        if stall >= cfg.step_patience:
            theta, stall = theta / 2, 0
        out_of_time = time.perf_counter() - start > cfg.iteration_share * cfg.time_limit_s
        if (iteration - 1) % repair_every == 0 or out_of_time or iteration == max_iterations:
            obj, candidate = primal(x)
            if obj > best_obj:
                best_x, best_obj = candidate, obj
        if out_of_time or theta < cfg.step_min or _gap(best_obj, best_ub) <= cfg.gap_tolerance:
            break
        g_lam, g_pi = _subgradients(a, lam, pi, load, count)
        excess = max(best_ub - best_obj, 1e-6 * max(abs(best_ub), 1.0))
        norm_lam, norm_pi = float(np.sum(g_lam**2)), float(np.sum(g_pi**2))
        if norm_lam > 0:
            lam = np.maximum(0.0, lam + 0.5 * theta * excess / norm_lam * g_lam)
        if norm_pi > 0:
            pi = np.minimum(a.bonus[:, None], pi + 0.5 * theta * excess / norm_pi * g_pi)
    return best_x, best_ub, iteration


def _solve_grouped(
    problem: AllocationProblem, classes: DeviceClasses, cfg: AllocationConfig, start: float
) -> AllocationResult:
    """The solve on classes of identical devices: a plan is how many of each class run in each interval.

    The LP relaxation of the class problem is small (classes x intervals), so HiGHS solves it exactly: its
    optimum bounds the device problem (the reduction is exact), and its counts rounded down and greedily
    topped up give the plan. Where the LP does not finish in its share of the time limit, subgradient
    steps on the classes give the bound and the plan instead.
    """
    a = _Arrays(class_problem(problem, classes), cfg.cap_tolerance_kw, classes.mult)
    C, T = len(classes), a.hashprice_dt.shape[0]
    zeros = np.zeros((C, T), dtype=np.int64)

    def primal(paths: np.ndarray, base: np.ndarray = zeros) -> tuple[float, np.ndarray]:
        counts = K.repair_counts(paths, base, a.mult, *a.model()[:3], a.hr, a.restart, a.initial_on,
                                 a.hashprice_dt, a.rate_dt, a.energy, a.cap, a.demand, a.committed, a.bonus,
                                 a.tol)  # fmt: skip
        return _counts_value(a, counts)[0], counts

    lp = reference(class_problem(problem, classes), time_limit=cfg.grouped_lp_time_limit_s, relax=True,
                   mult=classes.mult) if cfg.grouped_lp else None  # fmt: skip
    if lp is not None and lp.optimal:
        base = np.floor(lp.x + 1e-6).astype(np.int64)
        _, counts = primal(np.zeros((C, T), dtype=np.uint8), base)
        ub, iteration = lp.objective, 0
    else:
        # one thread: classes x intervals is tiny, starting a parallel region would cost more than the work
        # (the steps get a time budget of their own: the LP may have used up the first one)
        counts, ub, iteration = _dual_ascent(a, cfg, time.perf_counter(), primal, cfg.grouped_max_iterations,
                                             cfg.grouped_repair_every, K.relax_serial)  # fmt: skip
    obj, load, count = _counts_value(a, counts)
    ub = max(ub, obj)
    # why a device of each class is off: the class's reason with all of it off, running devices get 0
    off = K.reasons(np.zeros_like(counts, dtype=np.uint8), load, count, a.fac, a.pool, a.w, a.hr, a.hashprice_dt,
                    a.rate_dt, a.energy, a.cap, a.demand, a.committed, a.bonus, a.tol)  # fmt: skip
    x, reason = expand(counts, off, classes)
    return _result(a, x, obj, ub, count, reason, iteration, start)


def _result(
    a: _Arrays, x, obj: float, ub: float, count, reason, iterations: int, start: float
) -> AllocationResult:
    """The result of plan x with objective `obj`, pool counts [K, T], reasons and a bound."""
    return AllocationResult(
        x=x,
        objective=obj,
        upper_bound=ub,
        gap=_gap(obj, ub),
        shortfall=np.maximum(0, a.committed - count),
        reason=reason,
        iterations=iterations,
        seconds=time.perf_counter() - start,
    )


def _counts_value(a: _Arrays, counts: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(objective, facility load [F, T], pool count [K, T]) of running counts[C, T] of each class."""
    revenue = np.where(a.pool[:, None] >= 0, a.rate_dt[np.maximum(a.pool, 0)] if a.rate_dt.size else 0.0,
                       a.hr[:, None] * a.hashprice_dt[None, :])  # fmt: skip
    margin = revenue - a.w[:, None] * a.energy[a.fac]
    before = np.concatenate([(a.mult * a.initial_on)[:, None], counts[:, :-1]], axis=1)
    value = float(np.sum(margin * counts) - np.sum(a.restart[:, None] * np.maximum(0, counts - before)))
    load = a.fac_onehot @ (a.w[:, None] * counts)
    count = a.pool_onehot @ counts
    return value - a.penalty(count), load, count


def _gap(objective: float, upper_bound: float) -> float:
    """Relative gap (upper bound - objective) / max(|upper bound|, 1 USD)."""
    if not np.isfinite(objective) or not np.isfinite(upper_bound):
        return float("inf")
    return max(0.0, upper_bound - objective) / max(abs(upper_bound), 1.0)


def _pairs(a: _Arrays) -> tuple[np.ndarray, np.ndarray]:
    """All device pairs that share a facility or a GPU pool, as two index arrays."""
    first, second = np.triu_indices(len(a.fac), k=1)
    linked = (a.fac[first] == a.fac[second]) | ((a.pool[first] >= 0) & (a.pool[first] == a.pool[second]))
    return first[linked].astype(np.int64), second[linked].astype(np.int64)


def _finish(
    a: _Arrays, cfg: AllocationConfig, x, ub: float, iterations: int, start: float
) -> AllocationResult:
    """Polish the best plan (exact column re-packing when small), then attach reasons and the gap."""
    model = a.model()
    obj, load, count = _evaluate_plan(a, x, cfg.chunk_devices)
    D = x.shape[0]
    pair_a, pair_b = _pairs(a) if cfg.pair_devices >= D else (np.empty(0, np.int64), np.empty(0, np.int64))
    for _ in range(cfg.exact_column_rounds if cfg.pair_devices >= D else 1):
        gain = 0.0
        for _ in range(cfg.polish_passes):
            step = K.polish(x, load, count, *model, a.fac_order, a.fac_start, a.tol)
            gain += step
            if step <= 1e-9 or time.perf_counter() - start > cfg.time_limit_s:
                break
        if cfg.exact_column_devices >= D:
            gain += K.exact_columns(x, load, count, *model, a.tol)
        gain += K.pair_polish(x, load, count, *model, pair_a, pair_b, a.tol)
        if gain <= 1e-9:
            break
    obj, load, count = _evaluate_plan(a, x, cfg.chunk_devices)
    ub = max(ub, obj)
    reason = K.reasons(x, load, count, a.fac, a.pool, a.w, a.hr, a.hashprice_dt, a.rate_dt, a.energy, a.cap,
                       a.demand, a.committed, a.bonus, a.tol)  # fmt: skip
    return _result(a, x, obj, ub, count, reason, iterations, start)
