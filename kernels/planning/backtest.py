"""Replay history day by day under four policies and score each on realized prices and demand.

What each policy knows when it decides interval t of day d (hourly intervals):

- optimizer: an operator re-planning on a rolling horizon. Before the day it holds a day-ahead
  forecast: the day-ahead price where the node has one (published before the day), else the
  previous day's real-time prices at the same hours with spikes clipped; the most GPUs in use over
  the previous day; the hashprice and GPU rates known at the previous day's end. At every interval
  t (every `config.replan_every_intervals`) it re-solves the rest of the day [t, end of day) with
  the allocation kernel, starting from the devices' actual on/off state (restart costs carried):
  the latest real-time price is persisted for the next hour and blended back to the day-ahead
  forecast with half-life `config.persistence_half_life_hours`; only the decision for t (up to the
  next re-plan) is kept. With `config.realtime_guard` (the default) the latest price is the
  real-time price of interval t itself as it settles, and the GPU demand at t is the realized one:
  exactly the real-time signal the strike rule and always-on react to (a curtailment triggered on
  the live 5-minute price). Without it, the latest price is that of t-1 (closed intervals only),
  demand the forecast. Nothing later than interval t is ever seen.
- always_on: every device runs; GPUs beyond the realized demand at t and devices beyond the power
  cap are switched off (so it follows the realized demand at t).
- strike_price: ASICs run while the real-time price of interval t (as it settles) is below a fixed
  strike, the breakeven price of the median ASIC at the hashprice known the day before; GPUs run
  up to the realized demand at t.
- perfect_foresight: the realized day, all of it known in advance (an upper reference, not a
  policy anyone can run): the better (on the realized day) of the allocation kernel's plan for the
  whole day and the optimizer's rolling re-planning fed the realized day instead of forecasts. The
  kernel is a heuristic with a gap (its upper bound is in `solves`), and its re-solves on shrinking
  horizons sometimes beat its one-shot plan; taking the better keeps this reference above the
  optimizer without giving it anything the optimizer could not compute with the same knowledge.

Both kernel-based policies keep a kernel plan only if it beats "all on" and "on where the margin
is positive" on the very problem just solved (`safeguarded`, `config.safeguard`): the kernel is a
heuristic with a gap, and this check uses no information beyond that problem.

Every plan is made feasible for the realized day (GPUs beyond realized demand and devices beyond
the cap are switched off, least valuable first by the forecast margins) and scored with
`kernels.allocation.evaluate` on realized real-time prices. Each policy carries its own device
state from one interval and day to the next (all devices on before the first day unless
`initial_on` says).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from kernels.allocation import AllocationProblem, AllocationResult, evaluate, solve
from kernels.allocation.evaluate import restarts, shortfall
from kernels.allocation.problem import load_kw, margins
from kernels.planning.builder import Fleet, Forecast, build_problem, naive_forecast
from kernels.planning.config import DEFAULT_PLANNING, PlanningConfig

POLICIES = ("optimizer", "always_on", "strike_price", "perfect_foresight")


@dataclass
class BacktestResult:
    """daily: day, policy, realized_profit_usd, revenue_usd, energy_cost_usd, restart_cost_usd,
    penalty_usd, energy_mwh, device_hours, feasible; solves: day, policy, hour (first interval of
    the solve, 0 for a whole-day solve), intervals, objective, upper_bound, gap, seconds of each
    kernel call."""

    daily: pd.DataFrame
    solves: pd.DataFrame

    def totals(self) -> pd.DataFrame:
        """Per policy over all days: days, realized_profit_usd, energy_mwh, device_hours."""
        if self.daily.empty:
            return pd.DataFrame(
                columns=["policy", "days", "realized_profit_usd", "energy_mwh", "device_hours"]
            )
        grouped = self.daily.groupby("policy", sort=False)
        out = grouped[["realized_profit_usd", "energy_mwh", "device_hours"]].sum()
        out.insert(0, "days", grouped["day"].nunique())
        return out.reset_index()


def make_feasible(problem: AllocationProblem, x: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """x (uint8[D, T]) with GPUs beyond each pool's demand, then devices beyond each facility's cap,
    switched off, lowest `priority` (float[D, T]) first."""
    p, on = problem, x.astype(bool).copy()
    K, T = p.demand_gpus.shape
    for k in range(K):
        members = np.flatnonzero(p.device_pool == k)
        for t in range(T):
            running = members[on[members, t]]
            excess = len(running) - int(p.demand_gpus[k, t])
            if excess > 0:
                on[running[np.argsort(priority[running, t], kind="stable")[:excess]], t] = False
    kw = load_kw(p)
    for f in range(p.cap_kw.shape[0]):
        members = np.flatnonzero(p.device_facility == f)
        for t in range(T):
            running = members[on[members, t]]
            if kw[running].sum() <= p.cap_kw[f, t]:
                continue
            order = running[np.argsort(-priority[running, t], kind="stable")]
            on[order[np.cumsum(kw[order]) > p.cap_kw[f, t]], t] = False
    return on.astype(np.uint8)


def score(problem: AllocationProblem, x: np.ndarray) -> dict[str, float]:
    """Realized figures of plan x: profit (the evaluate objective), revenue, energy cost, restart
    cost, shortfall penalty (USD), energy at the meter (MWh), device-hours, device-hours off and
    hours with any device off (curtailment: no GPU demand is left unserved in the replays), devices
    switched on, and feasibility."""
    p, on = problem, x.astype(bool)
    objective, feasible, _ = evaluate(p, x)
    kw = load_kw(p)
    energy_usd = p.dt * kw[:, None] * p.price_usd_mwh[p.device_facility] / 1000.0
    margin = margins(p)
    return {
        "realized_profit_usd": objective,
        "revenue_usd": float(np.sum(margin + energy_usd, where=on)),
        "energy_cost_usd": float(np.sum(energy_usd, where=on)),
        "restart_cost_usd": float(np.sum(p.restart_usd[:, None] * restarts(p, x))),
        "penalty_usd": float(np.sum(p.penalty_usd_per_gpu_h[:, None] * p.dt * shortfall(p, x))),
        "energy_mwh": float(np.sum(kw[:, None] * on) * p.dt / 1000.0),
        "device_hours": float(on.sum() * p.dt),
        "curtailed_device_hours": float((~on).sum() * p.dt),
        "curtailed_hours": float((~on).any(axis=0).sum() * p.dt),
        "restarts": int(restarts(p, x).sum()),
        "feasible": bool(feasible),
    }


def strike_prices(problem: AllocationProblem) -> np.ndarray:
    """Strike price per facility (USD/MWh): breakeven of the median ASIC (TH/s per kW) at the
    problem's mean hashprice, float64[F]; +inf when the fleet has no ASIC."""
    p = problem
    asic = (p.device_pool < 0) & (p.power_kw > 0)
    if not asic.any():
        return np.full(len(p.pue), np.inf)
    ths_per_kw = float(np.median(p.hashrate_ths[asic] / p.power_kw[asic]))
    return ths_per_kw * float(np.mean(p.hashprice_usd_per_th_h)) * 1000.0 / p.pue


def backtest_days(history: Forecast, hours_per_day: int) -> list[pd.Timestamp]:
    """UTC days with a full day of price rows whose previous day also has one (a forecast exists)."""
    index = history.prices_usd_mwh.dropna(how="all").index
    counts = pd.Series(1, index=index).groupby(index.floor("D")).sum()
    full = set(counts.index[counts >= hours_per_day])
    return sorted(day for day in full if day - pd.Timedelta(days=1) in full)


def backtest(
    fleet: Fleet,
    history: Forecast,
    initial_on: Mapping[str, bool] | None = None,
    penalty_usd_per_gpu_h: Mapping[str, float] | None = None,
    config: PlanningConfig = DEFAULT_PLANNING,
    solver: Callable[[AllocationProblem], AllocationResult] = solve,
    progress: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Replay every day of `history` (realized hourly inputs) with a full previous day under the four
    POLICIES; returns realized figures per day and policy, and the kernel statistics. `progress`
    hears of each day replayed."""
    steps = round(24 / config.dt_hours)
    daily, solves = [], []
    state: dict[str, np.ndarray] = {}
    initial_on = initial_on if initial_on is not None else dict.fromkeys(fleet.devices["device_id"], True)
    for day in backtest_days(history, steps):
        if progress:
            progress(str(day.date()))
        intervals = pd.date_range(day, periods=steps, freq=pd.Timedelta(hours=config.dt_hours))
        known = history.between(day - pd.Timedelta(days=1), day)
        today = history.between(day, day + pd.Timedelta(days=1))
        forecast = naive_forecast(known, intervals, today.day_ahead_usd_mwh, config.price_spike_mads)
        realized = forecast.prefer(today)
        inputs = build_problem(fleet, forecast, intervals, initial_on, penalty_usd_per_gpu_h, config)
        planned = inputs.problem
        actual = build_problem(fleet, realized, intervals, initial_on, penalty_usd_per_gpu_h, config).problem
        last_price = _last_prices(known, inputs.facility_ids, planned.price_usd_mwh[:, 0])
        priority = margins(planned)
        for policy in POLICIES:
            start = state.get(policy, planned.initial_on)
            if policy == "optimizer":
                x, runs = rolling_horizon(replace(planned, initial_on=start), replace(actual, initial_on=start),
                                          last_price, priority, config, solver)  # fmt: skip
            elif policy == "perfect_foresight":
                x, runs = foresight(replace(actual, initial_on=start), priority, config, solver)
            else:
                x, runs = _rule(policy, planned, actual), []
            x = make_feasible(actual, x, priority)
            daily.append({"day": day.date(), "policy": policy, **score(replace(actual, initial_on=start), x)})
            for hour, length, result in runs:
                solves.append({"day": day.date(), "policy": policy, "hour": hour, "intervals": length,
                               "objective": result.objective, "upper_bound": result.upper_bound,
                               "gap": result.gap, "seconds": result.seconds})  # fmt: skip
            state[policy] = x[:, -1].astype(bool)
    return BacktestResult(pd.DataFrame(daily), pd.DataFrame(solves))


def _last_prices(known: Forecast, facility_ids: list[str], fallback: np.ndarray) -> np.ndarray:
    """Latest observed real-time price per facility before the day, float64[F]; `fallback` where a
    facility has none."""
    prices = known.prices_usd_mwh.reindex(columns=facility_ids).astype(float).ffill()
    last = prices.iloc[-1].to_numpy(dtype=np.float64) if len(prices) else np.full(len(facility_ids), np.nan)
    return np.where(np.isfinite(last), last, fallback)


def window(problem: AllocationProblem, start: int, stop: int) -> AllocationProblem:
    """The intervals [start, stop) of `problem` (same devices and initial state)."""
    p = problem
    return replace(
        p,
        cap_kw=p.cap_kw[:, start:stop].copy(),
        price_usd_mwh=p.price_usd_mwh[:, start:stop].copy(),
        hashprice_usd_per_th_h=p.hashprice_usd_per_th_h[start:stop].copy(),
        rate_usd_per_gpu_h=p.rate_usd_per_gpu_h[:, start:stop].copy(),
        demand_gpus=p.demand_gpus[:, start:stop].copy(),
        committed_gpus=p.committed_gpus[:, start:stop].copy(),
    )


def with_restart_after(problem: AllocationProblem) -> AllocationProblem:
    """`problem` with one interval appended in which every ASIC earns far more than it costs, so a
    plan ends with them on: one left off at the last real interval pays its restart in the appended
    one, as it will when it runs again after the horizon. GPUs see the last interval repeated. The
    appended interval's own value is the same for every plan that leaves the ASICs on."""
    p = problem

    def extend(a: np.ndarray, value: float | None = None) -> np.ndarray:
        last = a[..., -1:]
        return np.concatenate([a, last if value is None else np.full_like(last, value)], axis=-1)

    # the appended hashprice makes every ASIC's margin there exceed its restart cost (and no more
    # than needed: a huge constant would swamp the kernel's relative gap)
    asic = (p.device_pool < 0) & (p.hashrate_ths > 0)
    high = float(p.hashprice_usd_per_th_h[-1])
    if asic.any():
        energy = (
            p.power_kw[asic] * p.pue[p.device_facility[asic]] * p.price_usd_mwh[p.device_facility[asic], -1]
        )
        needed = (p.restart_usd[asic] / p.dt + np.maximum(energy, 0.0) / 1000.0) / p.hashrate_ths[asic]
        high = max(high, 1.1 * float(needed.max()) + 1e-9)
    return replace(
        p,
        cap_kw=extend(p.cap_kw),
        price_usd_mwh=extend(p.price_usd_mwh),
        hashprice_usd_per_th_h=extend(p.hashprice_usd_per_th_h, high),
        rate_usd_per_gpu_h=extend(p.rate_usd_per_gpu_h),
        demand_gpus=extend(p.demand_gpus),
        committed_gpus=extend(p.committed_gpus),
    )


def _solve_to_end(
    problem: AllocationProblem,
    config: PlanningConfig,
    solver: Callable[[AllocationProblem], AllocationResult],
) -> tuple[AllocationProblem, AllocationResult]:
    """Solve `problem`, with `with_restart_after` when the config says; returns the problem solved
    (its plan may hold the appended interval: callers keep the intervals they need)."""
    solved = with_restart_after(problem) if config.restart_after_horizon else problem
    return solved, solver(solved)


def persistence_blend(
    latest: np.ndarray, fallback: np.ndarray, first_lead: int, dt: float, half_life_hours: float
) -> np.ndarray:
    """Forecast float64[F, n] of the next n intervals: `latest` (float64[F], the last observed price)
    up to one interval ahead, then blended towards `fallback` (float64[F, n]) with weight
    0.5 ** ((lead - 1) * dt / half_life_hours); `first_lead` is the lead of the first column
    (0 when `latest` is that interval's own price)."""
    leads = first_lead + np.arange(fallback.shape[1])
    hours = np.maximum(leads - 1, 0) * dt
    weight = 0.5 ** (hours / half_life_hours) if half_life_hours > 0 else (hours <= 0).astype(float)
    return weight * latest[:, None] + (1.0 - weight) * fallback


def safeguarded(problem: AllocationProblem, x: np.ndarray) -> np.ndarray:
    """The best, by `problem`'s own objective, of plan x (e.g. the kernel's) and two simple plans on
    the same problem: every device on, and every device on where its margin is positive (both
    trimmed to demand and cap by margin). The kernel is a heuristic with a gap; this only uses the
    information `problem` holds."""
    margin = margins(problem)
    candidates = [
        make_feasible(problem, x, margin),
        make_feasible(problem, np.ones_like(x, dtype=np.uint8), margin),
        make_feasible(problem, (margin > 0).astype(np.uint8), margin),
    ]
    values = [evaluate(problem, c)[0] for c in candidates]
    return candidates[int(np.argmax(values))]


def rolling_horizon(
    planned: AllocationProblem,
    actual: AllocationProblem,
    last_price: np.ndarray,
    priority: np.ndarray,
    config: PlanningConfig = DEFAULT_PLANNING,
    solver: Callable[[AllocationProblem], AllocationResult] = solve,
    foresight: bool = False,
) -> tuple[np.ndarray, list[tuple[int, int, AllocationResult]]]:
    """The optimizer policy over one day: re-solve [t, T) every `config.replan_every_intervals`
    from the actual device state with the latest real-time price persisted (see the module
    docstring for what is known at t), keep the decisions up to the next re-plan, trimmed to the
    realized demand and cap. `last_price` (float64[F]) is the real-time price of the interval
    before the day. With `foresight`, every re-solve sees the realized rest of the day instead.
    Returns x (uint8[D, T]) and (first interval, intervals, result) per solve."""
    D, T = actual.hashrate_ths.shape[0], actual.hashprice_usd_per_th_h.shape[0]
    every = max(1, int(config.replan_every_intervals))
    x = np.zeros((D, T), dtype=np.uint8)
    state = planned.initial_on.copy()
    runs = []
    for t in range(0, T, every):
        sub = window(actual if foresight else planned, t, T)
        if not foresight:
            if config.realtime_guard:
                latest, first_lead = actual.price_usd_mwh[:, t], 0
                sub.demand_gpus[:, 0] = actual.demand_gpus[:, t]
                sub.committed_gpus[:, 0] = actual.committed_gpus[:, t]
            else:
                latest = actual.price_usd_mwh[:, t - 1] if t > 0 else last_price
                first_lead = 1
            sub.price_usd_mwh = persistence_blend(
                latest, sub.price_usd_mwh, first_lead, planned.dt, config.persistence_half_life_hours
            )
        sub, result = _solve_to_end(replace(sub, initial_on=state), config, solver)
        runs.append((t, T - t, result))
        plan = safeguarded(sub, result.x) if config.safeguard else result.x
        stop = min(t + every, T)
        step = window(replace(actual, initial_on=state), t, stop)
        x[:, t:stop] = make_feasible(step, plan[:, : stop - t], priority[:, t:stop])
        state = x[:, stop - 1].astype(bool)
    return x, runs


def foresight(
    actual: AllocationProblem,
    priority: np.ndarray,
    config: PlanningConfig = DEFAULT_PLANNING,
    solver: Callable[[AllocationProblem], AllocationResult] = solve,
) -> tuple[np.ndarray, list[tuple[int, int, AllocationResult]]]:
    """The perfect-foresight plan of one realized day: the better of the kernel's whole-day plan and
    the rolling re-plan on the realized day (both made feasible); x (uint8[D, T]) and the solves."""
    T = actual.hashprice_usd_per_th_h.shape[0]
    solved, whole = _solve_to_end(actual, config, solver)
    x_whole = safeguarded(solved, whole.x) if config.safeguard else whole.x
    x_whole = make_feasible(actual, x_whole[:, :T], priority)
    x_rolling, runs = rolling_horizon(
        actual, actual, actual.price_usd_mwh[:, 0], priority, config, solver, True
    )
    better = evaluate(actual, x_rolling)[0] > evaluate(actual, x_whole)[0]
    return (x_rolling if better else x_whole), [(0, T, whole), *runs[1:]]


def _rule(policy: str, planned: AllocationProblem, actual: AllocationProblem) -> np.ndarray:
    """The raw plan of always_on or strike_price for one day (before trimming to realized demand
    and cap)."""
    D, T = len(actual.power_kw), actual.price_usd_mwh.shape[1]
    x = np.ones((D, T), dtype=np.uint8)
    if policy == "strike_price":
        asic = actual.device_pool < 0
        below = actual.price_usd_mwh < strike_prices(planned)[:, None]
        x[asic] = below[actual.device_facility[asic]]
    return x
