"""Benchmark of the allocation kernel against HiGHS (scipy) on generated instances."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import numba

from kernels.allocation.generate import generate
from kernels.allocation.reference import reference
from kernels.allocation.solver import solve

DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((1_000, 24), (10_000, 24), (100_000, 96))
# Above this many devices x intervals HiGHS is not run: scipy's model of 100,000 x 96 took over 15 GB
# before HiGHS's own time limit applied.
HIGHS_MAX_CELLS = 2_500_000


def _warm_up() -> float:
    """Seconds to load or compile every kernel (a tiny solve touches them all)."""
    start = time.perf_counter()
    solve(generate(8, 4, seed=0))
    return time.perf_counter() - start


def _one_size(
    devices: int,
    intervals: int,
    highs_time_limit: float,
    highs_max_cells: int,
    seed: int,
    say: Callable[[str], None],
) -> dict:
    """Kernel and HiGHS figures for one generated instance (HiGHS fields None when it was not run)."""
    problem = generate(devices, intervals, seed=seed)
    say(f"{devices} x {intervals}: kernel")
    result = solve(problem)
    row = {
        "devices": devices,
        "intervals": intervals,
        "kernel_seconds": result.seconds,
        "kernel_objective": result.objective,
        "kernel_upper_bound": result.upper_bound,
        "kernel_iterations": result.iterations,
    }
    if devices * intervals > highs_max_cells:
        return row | {
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
    sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
    highs_time_limit: float = 60.0,
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
    highs_max_cells: int = HIGHS_MAX_CELLS,
) -> dict:
    """Kernel vs HiGHS on generated instances of `sizes` (devices, intervals), all in one run.

    Returns {"compile_seconds", "threads", "load_average", "highs_time_limit", "rows": [...]}, one row per
    size with kernel seconds (after warm-up), the gap to the HiGHS LP bound (or the kernel's own bound
    where the LP did not finish; `bound_source` says which), HiGHS MILP seconds/status and the speedup
    (HiGHS is skipped above `highs_max_cells` devices x intervals).
    """
    say = progress or (lambda _message: None)
    say("warming up the kernels")
    compile_seconds = _warm_up()
    rows = []
    for d, t in sizes:
        rows.append(_one_size(d, t, highs_time_limit, highs_max_cells, seed, say))
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
        f"{'size':>12} {'kernel s':>9} {'gap':>8} {'bound':>9} {'HiGHS s':>13} {'speedup':>9} {'iters':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in result["rows"]:
        if r["highs_seconds"] is None:
            highs, speedup = "not run", "-"
        else:
            limited = r["highs_status"] != "optimal"
            highs = f"{r['highs_seconds']:.0f} (limit)" if limited else f"{r['highs_seconds']:.2f}"
            speedup = (">=" if r["speedup_is_lower_bound"] else "") + f"{r['speedup']:.0f}x"
        lines.append(
            f"{r['devices']:>7} x {r['intervals']:<3} {r['kernel_seconds']:>9.3f} {r['gap']:>8.3%} "
            f"{r['bound_source']:>9} {highs:>13} {speedup:>9} {r['kernel_iterations']:>6}"
        )
    lines.append(
        f"compile/load {result['compile_seconds']:.1f} s, {result['threads']} threads, "
        f"load average {result['load_average']:.1f}, HiGHS limit {result['highs_time_limit']:g} s"
    )
    return "\n".join(lines)
