"""Benchmark of the allocation kernel against HiGHS (scipy) on generated instances."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numba

from kernels.allocation.generate import generate
from kernels.allocation.reference import reference
from kernels.allocation.solver import solve
from kernels.config import DEFAULT_ALLOCATION, AllocationConfig

# (devices, intervals[, hardware models]): with models the fleet is a catalogue, as real fleets are,
# and the kernel solves it on classes of identical devices; the baseline is the per-device solve.
DEFAULT_SIZES: tuple[tuple[int, ...], ...] = ((1_000, 24), (10_000, 24), (100_000, 96), (300_000, 96, 5))
# Above this many devices x intervals HiGHS is not run: scipy's model of 100,000 x 96 took over 15 GB
# before HiGHS's own time limit applied.
HIGHS_MAX_CELLS = 2_500_000


def _warm_up() -> float:
    """Seconds to load or compile every kernel (a tiny solve touches them all)."""
    start = time.perf_counter()
    solve(generate(8, 4, seed=0))
    return time.perf_counter() - start


def _timed_solve(problem, config: AllocationConfig = DEFAULT_ALLOCATION):
    """(result, CPU seconds of this process): CPU time says what a quiet machine would take."""
    cpu = time.process_time()
    result = solve(problem, config)
    return result, time.process_time() - cpu


def _without_highs(result) -> dict:
    """Row fields of an instance too large for HiGHS: the kernel's own bound."""
    return {
        "highs_lp_seconds": None,
        "bound": result.upper_bound,
        "bound_source": "kernel",
        "gap": result.gap,
        "highs_seconds": None,
        "highs_status": "not run (too large)",
        "highs_objective": None,
        "speedup": None,
        "speedup_is_lower_bound": False,
    }


def _one_size(
    devices: int,
    intervals: int,
    highs_time_limit: float,
    highs_max_cells: int,
    seed: int,
    say: Callable[[str], None],
    models: int = 0,
) -> dict:
    """Kernel and HiGHS figures for one generated instance (HiGHS fields None when it was not run).

    With `models` the per-device solve of the same instance is the baseline (`baseline_*`, `speedup`).
    """
    problem = generate(devices, intervals, seed=seed, n_models=models)
    say(f"{devices} x {intervals}: kernel")
    result, cpu = _timed_solve(problem)
    row = {
        "devices": devices,
        "intervals": intervals,
        "models": models,
        "kernel_seconds": result.seconds,
        "kernel_cpu_seconds": cpu,
        "kernel_objective": result.objective,
        "kernel_upper_bound": result.upper_bound,
        "kernel_iterations": result.iterations,
    }
    if models:
        say(f"{devices} x {intervals}: baseline, the per-device solve of the same fleet")
        base, base_cpu = _timed_solve(problem, replace(DEFAULT_ALLOCATION, group_max_share=0.0))
        return (
            row
            | _without_highs(result)
            | {
                "baseline_seconds": base.seconds,
                "baseline_cpu_seconds": base_cpu,
                "baseline_gap": base.gap,
                "speedup": base.seconds / result.seconds,
            }
        )
    if devices * intervals > highs_max_cells:
        return row | _without_highs(result)
    say(f"{devices} x {intervals}: HiGHS LP relaxation (limit {highs_time_limit:g} s)")
    lp = reference(problem, time_limit=highs_time_limit, relax=True)
    bound, source = (lp.objective, "highs_lp") if lp.optimal else (result.upper_bound, "kernel")
    row |= {
        "highs_lp_seconds": lp.seconds if lp.optimal else None,
        "bound": bound,
        "bound_source": source,
        "gap": max(0.0, bound - result.objective) / max(abs(bound), 1.0),
    }
    say(f"{devices} x {intervals}: HiGHS MILP (limit {highs_time_limit:g} s)")
    exact = reference(problem, time_limit=highs_time_limit)
    row |= {
        "highs_seconds": exact.seconds,
        "highs_status": "optimal" if exact.optimal else "time limit",
        "highs_objective": exact.objective,
        # a lower bound on the true speedup when HiGHS stopped at its time limit
        "speedup": exact.seconds / result.seconds,
        "speedup_is_lower_bound": not exact.optimal,
    }
    return row


def run_benchmark(
    sizes: Sequence[tuple[int, ...]] = DEFAULT_SIZES,
    highs_time_limit: float = 60.0,
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
    highs_max_cells: int = HIGHS_MAX_CELLS,
) -> dict:
    """Kernel vs HiGHS on generated instances of `sizes` (devices, intervals[, models]), all in one run.

    Returns {"compile_seconds", "threads", "load_average", "highs_time_limit", "rows": [...]}, one row per
    size with kernel seconds (after warm-up), the gap to the HiGHS LP bound (or the kernel's own bound
    where the LP did not finish; `bound_source` says which), HiGHS MILP seconds/status and the speedup
    (HiGHS is skipped above `highs_max_cells` devices x intervals).
    """
    say = progress or (lambda _message: None)
    say("warming up the kernels")
    compile_seconds = _warm_up()
    rows = []
    for d, t, *models in sizes:
        rows.append(_one_size(d, t, highs_time_limit, highs_max_cells, seed, say, *models))
        say(f"{d} x {t}: " + ", ".join(f"{k}={v}" for k, v in rows[-1].items()))
    return {
        "compile_seconds": compile_seconds,
        "threads": numba.get_num_threads(),
        # the machine may be shared: the load says how much of it the figures had
        "load_average": os.getloadavg()[0],
        "highs_time_limit": highs_time_limit,
        "rows": rows,
    }


def format_table(result: dict) -> str:
    """The benchmark result as a plain-text table for humans."""
    header = (
        f"{'size':>15} {'kernel s':>9} {'cpu s':>7} {'gap':>8} {'bound':>9} {'baseline':>22} {'speedup':>9} "
        f"{'iters':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in result["rows"]:
        if r.get("baseline_seconds") is not None:
            highs = f"per-device {r['baseline_seconds']:.2f} s {r['baseline_gap']:.2%}"
            speedup = f"{r['speedup']:.1f}x"
        elif r["highs_seconds"] is None:
            highs, speedup = "not run", "-"
        else:
            limited = r["highs_status"] != "optimal"
            highs = "HiGHS " + (
                f"{r['highs_seconds']:.0f} s (limit)" if limited else f"{r['highs_seconds']:.2f} s"
            )
            speedup = (">=" if r["speedup_is_lower_bound"] else "") + f"{r['speedup']:.0f}x"
        lines.append(
            f"{r['devices']:>7} x {r['intervals']:<3}{_models(r):>4} {r['kernel_seconds']:>9.3f} "
            f"{r['kernel_cpu_seconds']:>7.2f} {r['gap']:>8.3%} {r['bound_source']:>9} {highs:>22} {speedup:>9} "
            f"{r['kernel_iterations']:>6}"
        )
    lines.append(
        f"compile/load {result['compile_seconds']:.1f} s, {result['threads']} threads, "
        f"load average {result['load_average']:.1f}, HiGHS limit {result['highs_time_limit']:g} s"
    )
    lines.append("a size with /m: a fleet of m hardware models, solved on classes of identical devices")
    return "\n".join(lines)


def _models(row: dict) -> str:
    return f"/{row['models']}" if row.get("models") else ""
