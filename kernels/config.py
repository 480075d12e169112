"""Tunables of the numerical kernels, in one place so a benchmark or a test can override them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AllocationConfig:
    """Knobs of `kernels.allocation.solve`; the defaults are tuned on generated instances."""

    # Subgradient iterations on the Lagrange multipliers (power price, pool price).
    max_iterations: int = 60
    # Stop once (upper bound - best plan) / |upper bound| falls below this.
    gap_tolerance: float = 5e-4
    # Wall-clock budget of the whole solve: the multiplier iterations stop at `iteration_share` of it,
    # the final polishing passes when it runs out (a pass already started completes).
    time_limit_s: float = 4.0
    iteration_share: float = 0.6
    # Polyak step factor: starts here, halves after `step_patience` iterations without a better bound.
    step_initial: float = 1.0
    step_patience: int = 4
    step_min: float = 1e-4
    # Repair the relaxed plan into a feasible one every this many iterations (and at the end).
    repair_every: int = 10
    # Passes of single-device re-optimisation (each device's schedule given all the others).
    polish_passes: int = 3
    # Columns (one interval, all devices) this small are re-packed exactly by enumeration.
    exact_column_devices: int = 14
    # Rounds of the exact column re-packing alternating with single-device passes.
    exact_column_rounds: int = 4
    # Instances with at most this many devices also re-plan every pair sharing a facility or pool jointly.
    pair_devices: int = 64
    # Numba threads; 0 = one thread below `parallel_min_cells` devices x intervals, numba's default above.
    # Small solves lose more to thread start-up and barrier waits (worse on a busy machine) than they gain.
    threads: int = 0
    parallel_min_cells: int = 2_000_000
    # Devices per parallel work chunk in the relaxation pass.
    chunk_devices: int = 2048
    # Slack on the power cap, kW, so round-off never reports a plan at the cap as infeasible.
    cap_tolerance_kw: float = 1e-9
    # Fleets of a few hardware models: when the classes of identical devices number at most this share of
    # the devices, the solver works on the classes (exact; see kernels/allocation/grouping.py), where an
    # iteration costs classes x intervals, so it can afford many more of them.
    # (rounding the classes' counts loses under one device per class and interval: it needs big classes)
    group_max_share: float = 0.02
    grouped_max_iterations: int = 3000
    grouped_repair_every: int = 5
    # Solve the classes' LP relaxation with HiGHS (exact bound, plan from its rounded counts); the
    # subgradient steps above remain the fallback when it does not finish in time.
    grouped_lp: bool = True
    # Wall-clock limit of that LP. It takes about half a CPU second at 300k devices x 96 intervals, but
    # on a shared machine its wall time is many times that, and the fallback is much worse: be generous.
    grouped_lp_time_limit_s: float = 60.0


DEFAULT_ALLOCATION = AllocationConfig()
