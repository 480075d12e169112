"""Allocation kernel against the plain-NumPy scorer and the exact HiGHS MILP."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.allocation import REASONS, AllocationProblem, evaluate, generate, reference, solve
from kernels.allocation.evaluate import facility_loads, pool_counts
from kernels.allocation.grouping import class_problem, device_classes
from kernels.allocation.problem import load_kw, margins
from kernels.config import DEFAULT_ALLOCATION, AllocationConfig

CODE = {name: code for code, name in REASONS.items()}


def _solve_checked(problem: AllocationProblem, config: AllocationConfig = DEFAULT_ALLOCATION):
    """Solve and assert what must hold for every instance: feasible, scored like the oracle, bound above."""
    result = solve(problem, config)
    objective, feasible, violations = evaluate(problem, result.x)
    assert feasible, violations
    assert result.x.dtype == np.uint8 and result.x.shape == problem.hashrate_ths.shape + problem.pue.shape[
        :0
    ] + (len(problem.hashprice_usd_per_th_h),)
    assert objective == pytest.approx(result.objective, rel=1e-9, abs=1e-9)
    assert result.upper_bound >= result.objective - 1e-9
    np.testing.assert_array_equal(
        result.shortfall, np.maximum(0, problem.committed_gpus - pool_counts(problem, result.x))
    )
    return result


def _uniform(n_devices: int = 4, n_intervals: int = 4, **overrides) -> AllocationProblem:
    """A hand-sized instance: ASICs in one facility, flat prices, nothing binding unless overridden."""
    D, T = n_devices, n_intervals
    base = dict(
        dt=1.0,
        device_facility=np.zeros(D, np.int32),
        device_pool=np.full(D, -1, np.int32),
        power_kw=np.full(D, 3.0),
        hashrate_ths=np.full(D, 150.0),
        restart_usd=np.full(D, 0.2),
        initial_on=np.ones(D, bool),
        pue=np.array([1.1]),
        cap_kw=np.full((1, T), 1e6),
        price_usd_mwh=np.full((1, T), 40.0),
        hashprice_usd_per_th_h=np.full(T, 0.002),
        rate_usd_per_gpu_h=np.zeros((0, T)),
        demand_gpus=np.zeros((0, T), np.int32),
        committed_gpus=np.zeros((0, T), np.int32),
        penalty_usd_per_gpu_h=np.zeros(0),
    )
    base.update(overrides)
    return AllocationProblem(**base).validate()


@pytest.mark.parametrize(
    ("devices", "intervals", "seed"), [(1, 1, 0), (40, 24, 1), (300, 24, 2), (500, 96, 3)]
)
def test_generated_plans_are_feasible(devices, intervals, seed):
    _solve_checked(generate(devices, intervals, seed=seed))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    devices=st.integers(1, 12),
    intervals=st.integers(1, 8),
    facilities=st.integers(1, 3),
    pools=st.integers(0, 2),
    seed=st.integers(0, 2**31),
)
def test_gap_to_milp_optimum_is_small(devices, intervals, facilities, pools, seed):
    problem = generate(devices, intervals, facilities, pools, seed=seed)
    result = _solve_checked(problem)
    exact = reference(problem, time_limit=30.0)
    assert exact.optimal
    scale = max(abs(exact.objective), 1.0)
    assert result.upper_bound >= exact.objective - 1e-6 * scale  # a valid bound
    assert (exact.objective - result.objective) / scale <= 0.005


def test_single_device_single_interval_is_exact():
    problem = generate(1, 1, n_facilities=1, n_pools=1, seed=7)
    assert _solve_checked(problem).objective == pytest.approx(reference(problem).objective, abs=1e-9)


def test_all_margins_negative_runs_nothing():
    problem = _uniform(hashprice_usd_per_th_h=np.zeros(4))
    result = _solve_checked(problem)
    assert result.x.sum() == 0 and result.objective == 0.0
    assert np.all(result.reason == CODE["price_above_breakeven"])


def test_zero_cap_runs_nothing_and_says_why():
    problem = _uniform(cap_kw=np.zeros((1, 4)))
    result = _solve_checked(problem)
    assert result.x.sum() == 0
    assert np.all(result.reason == CODE["power_cap_binding"])


def test_cap_above_total_load_runs_every_profitable_device():
    problem = _uniform(restart_usd=np.zeros(4), hashprice_usd_per_th_h=np.array([0.002, 0.0, 0.002, 0.002]))
    result = _solve_checked(problem)
    np.testing.assert_array_equal(result.x, (margins(problem) > 0).astype(np.uint8))


def test_negative_prices_run_everything():
    problem = generate(60, 12, seed=5)
    problem = replace(
        problem,
        price_usd_mwh=-np.abs(problem.price_usd_mwh) - 1.0,
        cap_kw=np.full_like(problem.cap_kw, 1e9),
        demand_gpus=np.full_like(problem.demand_gpus, 60),
    )
    assert np.all(_solve_checked(problem).x == 1)


def test_commitment_above_pool_size_pays_the_penalty():
    problem = generate(30, 6, n_pools=2, seed=11)
    gpus = np.bincount(problem.device_pool[problem.device_pool >= 0], minlength=2)
    problem = replace(problem, committed_gpus=np.full((2, 6), gpus.max() + 5, np.int32))
    result = _solve_checked(problem)
    assert np.all(result.shortfall >= 5)


def test_huge_restart_cost_rides_through_a_spike():
    # the spike costs 0.36 USD per device; the five hours after it earn 0.84: ride through, never restart
    prices = np.array([[40.0, 40.0, 200.0, 40.0, 40.0, 40.0, 40.0, 40.0]])
    problem = _uniform(2, 8, price_usd_mwh=prices, restart_usd=np.full(2, 1000.0))
    result = _solve_checked(problem)
    assert np.all(result.x == 1)
    cheap = _solve_checked(replace(problem, restart_usd=np.zeros(2)))
    assert np.all(cheap.x[:, 2] == 0)
    assert np.all(cheap.reason[:, 2] == CODE["price_above_breakeven"])


def test_reasons_are_consistent():
    problem = generate(400, 24, seed=13)
    _check_reasons(problem, _solve_checked(problem))


def _check_reasons(problem: AllocationProblem, result) -> None:
    """Each off slot's reason is true of the plan, and the cap explains some of them."""
    off = result.x == 0
    assert np.all((result.reason == CODE["running"]) == ~off)
    margin = margins(problem)
    pool, facility = problem.device_pool, problem.device_facility
    count = pool_counts(problem, result.x)
    slack = problem.cap_kw - facility_loads(problem, result.x)
    gpu = pool >= 0
    short = np.zeros_like(off)
    short[gpu] = count[pool[gpu]] < problem.committed_gpus[pool[gpu]]
    value = margin + np.where(
        short, problem.dt * problem.penalty_usd_per_gpu_h[np.maximum(pool, 0)][:, None], 0
    )
    exhausted = np.zeros_like(off)
    exhausted[gpu] = count[pool[gpu]] >= problem.demand_gpus[pool[gpu]]
    no_room = load_kw(problem)[:, None] > slack[facility] + 1e-9
    reason = result.reason
    assert np.all(value[off & (reason == CODE["price_above_breakeven"])] <= 0)
    assert np.all(value[reason == CODE["power_cap_binding"]] > 0)
    assert np.all(no_room[reason == CODE["power_cap_binding"]])
    assert np.all(exhausted[reason == CODE["demand_exhausted"]])
    assert np.all(~no_room[reason == CODE["restart_not_worth_it"]])
    # an off ASIC with a positive margin where the cap binds is explained by the cap
    assert np.all(reason[off & (value > 0) & no_room & ~gpu[:, None]] == CODE["power_cap_binding"])
    assert (reason == CODE["power_cap_binding"]).any()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("power_kw", np.ones(4, np.float32), "power_kw: expected dtype float64"),
        ("cap_kw", np.ones((1, 3)), r"cap_kw: expected shape \(1, 4\)"),
        ("price_usd_mwh", np.array([[40.0, np.nan, 40.0, 40.0]]), "price_usd_mwh: contains NaN"),
        ("cap_kw", np.array([[1.0, -1.0, 1.0, 1.0]]), "cap_kw: must be non-negative"),
        ("device_pool", np.array([-1, 0, -1, -1], np.int32), "device_pool: index out of range"),
        ("device_facility", np.array([0, 1, 0, 0], np.int32), "device_facility: index out of range"),
    ],
)
def test_validate_names_the_field(field, value, message):
    problem = _uniform()
    setattr(problem, field, value)
    with pytest.raises(ValueError, match=message):
        problem.validate()
    with pytest.raises(ValueError, match=field):
        solve(problem)


def test_npz_round_trip(tmp_path):
    problem = generate(25, 6, seed=3)
    problem.to_npz(tmp_path / "instance.npz")
    loaded = AllocationProblem.from_npz(tmp_path / "instance.npz")
    for f in fields(AllocationProblem):
        np.testing.assert_array_equal(getattr(loaded, f.name), getattr(problem, f.name))
        assert np.asarray(getattr(loaded, f.name)).dtype == np.asarray(getattr(problem, f.name)).dtype
    assert solve(loaded).objective == pytest.approx(solve(problem).objective)


def test_evaluate_flags_violations():
    problem = _uniform(cap_kw=np.full((1, 4), 5.0))
    objective, feasible, violations = evaluate(problem, np.ones((4, 4), np.uint8))
    assert not feasible and violations["power_cap"] == 4
    assert objective == pytest.approx(margins(problem).sum())


def test_reference_lp_bounds_the_milp():
    problem = generate(10, 6, seed=21)
    exact, relaxed = reference(problem), reference(problem, relax=True)
    assert relaxed.objective >= exact.objective - 1e-7
    assert evaluate(problem, exact.x)[1]


# --- fleets of a few models: the solve on classes of identical devices ------------------------------


def test_device_classes_hold_identical_devices_and_count_them():
    problem = generate(3_000, 4, seed=31, n_models=4)
    classes = device_classes(problem)
    assert len(classes) <= (1 + 2) * 3 * 2 * 4  # (ASIC | 2 GPU pools) x facility x initial state x model
    for name in ("device_facility", "device_pool", "power_kw", "hashrate_ths", "restart_usd", "initial_on"):
        values = getattr(problem, name)
        np.testing.assert_array_equal(values, values[classes.rep][classes.cls], err_msg=name)
    np.testing.assert_array_equal(np.bincount(classes.cls), classes.mult)
    # ranks number each class's devices 0..size-1
    assert sorted(zip(classes.cls, classes.rank, strict=True)) == [
        (c, r) for c in range(len(classes)) for r in range(classes.mult[c])
    ]
    assert len(device_classes(generate(3_000, 4, seed=31))) == 3_000  # devices drawn one by one differ


@pytest.mark.parametrize(("devices", "intervals", "seed"), [(3_000, 8, 1), (4_000, 6, 2)])
def test_grouped_solve_matches_the_milp_optimum(devices, intervals, seed):
    problem = generate(devices, intervals, seed=seed, n_models=3)
    assert len(device_classes(problem)) <= 0.02 * devices  # the solve takes the grouped path
    result = _solve_checked(problem, AllocationConfig(time_limit_s=60.0))
    exact = reference(problem, time_limit=120.0)
    scale = max(abs(exact.objective), 1.0)
    assert result.upper_bound >= exact.upper_bound - 1e-6 * scale  # a valid bound on the device problem
    assert (exact.objective - result.objective) / scale <= 0.005
    assert result.gap <= 0.005 and result.iterations == 0  # from the classes' LP


def test_grouped_fallback_without_the_lp_is_feasible_and_bounded():
    problem = generate(3_000, 8, seed=1, n_models=3)
    result = _solve_checked(problem, AllocationConfig(grouped_lp=False, time_limit_s=30.0))
    exact = reference(problem, time_limit=120.0)
    assert result.iterations > 0  # the subgradient steps ran
    assert result.upper_bound >= exact.upper_bound - 1e-6 * abs(exact.upper_bound)
    assert result.objective >= 0.9 * exact.objective


def test_class_lp_equals_the_device_lp():
    # the reduction is exact: one row per class with its size gives the same LP optimum
    problem = generate(300, 12, seed=4, n_models=3)
    classes = device_classes(problem)
    grouped = reference(class_problem(problem, classes), relax=True, mult=classes.mult)
    assert grouped.objective == pytest.approx(reference(problem, relax=True).objective, rel=1e-7)


def test_grouped_reasons_are_consistent():
    problem = generate(2_000, 24, seed=13, n_models=3)
    _check_reasons(problem, _solve_checked(problem))
