"""The problem builder and the backtest policies on small hand-made DataFrames (no database)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from kernels.allocation import evaluate, solve
from kernels.planning import (
    POLICIES,
    Fleet,
    Forecast,
    build_problem,
    facility_summary,
    make_feasible,
    naive_forecast,
    plan_rows,
    seasonal_naive,
)
from kernels.planning.backtest import (
    backtest,
    foresight,
    persistence_blend,
    rolling_horizon,
    safeguarded,
    with_restart_after,
)
from kernels.planning.config import DEFAULT_PLANNING

HOURS = pd.date_range("2026-11-17", periods=72, freq="h", tz="UTC")
NEXT = pd.date_range(HOURS[-1] + pd.Timedelta(hours=1), periods=24, freq="h")


def fleet() -> Fleet:
    rows = []
    for facility in ("f1", "f2"):
        for i in range(10):
            gpu = i < 3
            rows.append(
                {
                    "device_id": f"{facility}-{i:02d}",
                    "facility_id": facility,
                    "device_kind": "gpu" if gpu else "asic",
                    "gpu_pool": ("h100" if facility == "f1" else None) if gpu else None,
                    "hardware_model": "L40S" if gpu else "S19",
                    "nominal_power_kw": 0.7 if gpu else 3.25,
                    "nominal_hashrate_ths": 0.0 if gpu else 95.0 + i,
                }
            )
    facilities = pd.DataFrame({"facility_id": ["f1", "f2"], "power_cap_kw": [20.0, 40.0], "pue": [1.1, 1.2]})
    return Fleet(pd.DataFrame(rows), facilities)


def history(seed: int = 0) -> Forecast:
    rng = np.random.default_rng(seed)
    hour = np.arange(len(HOURS))
    prices = pd.DataFrame(
        {
            "f1": 45 + 40 * np.sin(hour / 24 * 2 * np.pi) + rng.normal(0, 5, len(hour)),
            "f2": np.full(len(hour), -8.0),
        },
        index=HOURS,
    )
    demand = pd.DataFrame({"h100": rng.integers(0, 4, len(hour)), "L40S": 2}, index=HOURS).astype(float)
    return Forecast(
        prices_usd_mwh=prices,
        hashprice_usd_per_th_h=pd.Series(0.052 / 24, index=HOURS),
        gpu_rate_usd_per_h=pd.DataFrame({"h100": 2.4, "L40S": 1.1}, index=HOURS),
        demand_gpus=demand,
        committed_gpus=pd.DataFrame({"h100": 1.0}, index=HOURS),
    )


def test_builder_gives_a_valid_problem_with_labelled_axes():
    inputs = build_problem(fleet(), naive_forecast(history(), NEXT), NEXT)
    p = inputs.problem.validate()
    assert p.sizes == {"D": 20, "T": 24, "F": 2, "K": 2}
    assert inputs.pools == ["L40S", "h100"]  # a GPU without a pool is pooled by its model
    assert p.cap_kw.shape == (2, 24) and np.all(p.cap_kw[0] == 20.0)
    assert p.dt == 1.0
    assert np.all(p.hashrate_ths[p.device_pool >= 0] == 0)
    assert set(p.restart_usd) == {0.5, 2.0}
    assert np.all(p.committed_gpus[1] == 1) and np.all(p.demand_gpus >= p.committed_gpus)
    assert np.allclose(p.penalty_usd_per_gpu_h, [2.2, 4.8])  # 2 x the rate by default


def test_seasonal_naive_repeats_the_last_observed_day():
    observed = pd.DataFrame({"a": np.arange(48.0)}, index=HOURS[:48])
    forecast = seasonal_naive(observed, HOURS[48:72])
    assert forecast["a"].tolist() == list(np.arange(24.0, 48.0))


def test_naive_forecast_prefers_day_ahead_prices_and_clips_spikes():
    known = history()
    known.prices_usd_mwh.iloc[-3, 0] = 5000.0  # a real-time spike yesterday
    day_ahead = pd.DataFrame({"f2": 33.0}, index=NEXT)
    forecast = naive_forecast(known, NEXT, day_ahead)
    assert (forecast.prices_usd_mwh["f2"] == 33.0).all()
    assert forecast.prices_usd_mwh["f1"].max() < 300.0  # clipped at median + 6 MAD
    assert (forecast.demand_gpus["h100"] == known.demand_gpus["h100"].iloc[-24:].max()).all()


def test_negative_prices_make_everything_run():
    inputs = build_problem(fleet(), naive_forecast(history(), NEXT), NEXT, config_cap_free())
    p = inputs.problem
    result = solve(p)
    objective, feasible, _ = evaluate(p, result.x)
    assert feasible and objective == pytest.approx(result.objective)
    f2_asics = (p.device_facility == 1) & (p.device_pool < 0)
    assert result.x[f2_asics].all()  # paid to consume: every ASIC of f2 runs at every hour
    rows = plan_rows(inputs, result)
    assert len(rows) == 20 * 24 and set(rows["mode"]) <= {"mining", "inference", "curtailed"}
    assert (rows.loc[rows["mode"] == "curtailed", "expected_margin_usd"] == 0).all()
    summary = facility_summary(inputs, result.x)
    assert len(summary) == 2 * 24
    assert (summary["mw_mining"] + summary["mw_inference"] <= summary["cap_mw"] + 1e-9).all()
    assert summary["expected_profit_usd"].sum() - p.penalty_usd_per_gpu_h @ result.shortfall.sum(
        axis=1
    ) * p.dt == (pytest.approx(result.objective))


def config_cap_free() -> dict[str, bool]:
    """Every device on before the horizon (no restart costs in the way)."""
    return {f"{f}-{i:02d}": True for f in ("f1", "f2") for i in range(10)}


def test_make_feasible_trims_to_demand_and_cap():
    p = build_problem(fleet(), naive_forecast(history(), NEXT), NEXT).problem
    x = make_feasible(p, np.ones((20, 24), dtype=np.uint8), np.zeros((20, 24)))
    assert evaluate(p, x)[1]


def test_backtest_scores_every_policy_and_foresight_wins():
    result = backtest(fleet(), history())
    assert set(result.daily["policy"]) == set(POLICIES)
    assert sorted(result.daily["day"].astype(str).unique()) == ["2026-11-18", "2026-11-19"]
    assert result.daily["feasible"].all()
    totals = result.totals().set_index("policy")["realized_profit_usd"]
    solves = result.solves
    foresight = solves[(solves["policy"] == "perfect_foresight") & (solves["hour"] == 0)]
    gap = foresight["upper_bound"].sum() - foresight["objective"].sum()
    assert (
        totals["perfect_foresight"] >= totals[["optimizer", "always_on", "strike_price"]].max() - gap - 1e-6
    )
    optimizer = result.solves[result.solves["policy"] == "optimizer"]
    assert len(optimizer) == 2 * 24 and optimizer["intervals"].tolist()[:3] == [
        24,
        23,
        22,
    ]  # re-planned hourly


def test_persistence_blend_holds_the_latest_price_then_returns_to_the_forecast():
    fallback = np.full((1, 5), 40.0)
    guarded = persistence_blend(np.array([400.0]), fallback, first_lead=0, dt=1.0, half_life_hours=1.0)
    assert guarded[0].tolist() == [400.0, 400.0, 220.0, 130.0, 85.0]
    lagged = persistence_blend(np.array([400.0]), fallback, first_lead=1, dt=1.0, half_life_hours=1.0)
    assert lagged[0].tolist() == [400.0, 220.0, 130.0, 85.0, 62.5]


def spiky_day(spike_from: int) -> tuple:
    """(planned, actual) for f1 only: a flat 40 USD/MWh forecast, realized 2000 USD/MWh from
    `spike_from` to the end of the day."""
    f1 = fleet()
    f1 = Fleet(
        f1.devices[f1.devices["facility_id"] == "f1"], f1.facilities.iloc[:1].assign(power_cap_kw=None)
    )
    known = history()
    known.prices_usd_mwh = known.prices_usd_mwh[["f1"]].assign(f1=40.0)
    planned = build_problem(f1, naive_forecast(known, NEXT), NEXT, config_cap_free()).problem
    actual_prices = np.full((1, 24), 40.0)
    actual_prices[0, spike_from:] = 2000.0
    return planned, replace(planned, price_usd_mwh=actual_prices)


def test_rolling_horizon_curtails_in_the_spike_without_seeing_ahead():
    planned, actual = spiky_day(10)
    asic = actual.device_pool < 0
    for guard, first_off in ((True, 10), (False, 11)):  # the guard sees the settling price of the hour
        config = replace(DEFAULT_PLANNING, realtime_guard=guard)
        x, runs = rolling_horizon(planned, actual, np.array([40.0]), np.zeros((10, 24)), config)
        assert len(runs) == 24 and evaluate(actual, x)[1]
        assert x[asic, :first_off].all() and not x[asic, first_off:].any()
        # no look-ahead: the decisions before the spike are those of a day without one
        calm, _ = rolling_horizon(planned, planned, np.array([40.0]), np.zeros((10, 24)), config)
        assert (calm[:, :10] == x[:, :10]).all()


def test_a_plan_does_not_curtail_the_end_of_its_day_for_less_than_a_restart():
    # the last hour of the day costs each ASIC a little more than it earns, less than its restart:
    # curtailing it only pays if the day were the end of time; the machine runs again tomorrow
    planned, actual = spiky_day(24)
    asic = actual.device_pool < 0
    energy_per_usd_mwh = actual.power_kw[asic] * actual.pue[0] / 1000  # USD per hour per USD/MWh
    revenue = actual.hashrate_ths[asic] * actual.hashprice_usd_per_th_h[-1]
    price = float(np.median((revenue + actual.restart_usd[asic] / 2) / energy_per_usd_mwh))
    margin_last = revenue - energy_per_usd_mwh * price
    assert ((margin_last < 0) & (margin_last > -actual.restart_usd[asic])).all()
    actual.price_usd_mwh[0, -1] = price
    planned.price_usd_mwh[0, -1] = price  # the forecast knows it too: the day's end is the question
    priority = np.zeros((10, 24))
    for flag, on_at_end in ((True, True), (False, False)):  # False: the old day-is-the-world plan
        config = replace(DEFAULT_PLANNING, restart_after_horizon=flag)
        x, _ = foresight(actual, priority, config)
        assert x[asic, -1].all() == on_at_end and x[asic, :-1].all()
        x, _ = rolling_horizon(planned, actual, np.array([40.0]), priority, config)
        assert x[asic, -1].all() == on_at_end


def test_restart_after_the_horizon_leaves_the_real_intervals_alone():
    p, _ = spiky_day(24)  # no power cap: every ASIC can run at once
    extended = with_restart_after(p)
    assert extended.sizes["T"] == p.sizes["T"] + 1
    for name in ("cap_kw", "price_usd_mwh", "rate_usd_per_gpu_h", "demand_gpus", "committed_gpus"):
        assert (getattr(extended, name)[:, :-1] == getattr(p, name)).all()
    # in the appended interval every ASIC earns more than its energy and a restart: a plan ends on
    x = solve(extended).x
    assert x[p.device_pool < 0, -1].all()


def test_safeguard_keeps_the_best_plan_on_the_same_problem():
    p = build_problem(fleet(), naive_forecast(history(), NEXT), NEXT, config_cap_free()).problem
    idle = np.zeros((20, 24), dtype=np.uint8)
    x = safeguarded(p, idle)
    assert evaluate(p, x)[1] and evaluate(p, x)[0] > evaluate(p, idle)[0]
    best = solve(p).x
    assert evaluate(p, safeguarded(p, best))[0] >= evaluate(p, best)[0] - 1e-9
