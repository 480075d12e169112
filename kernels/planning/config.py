"""Tunables of the allocation planning layer (problem building and backtest), in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlanningConfig:
    """Defaults used when the marts do not say: restart costs, penalties, rates, horizon."""

    # Interval length of the plan, hours. Prices are averaged to the hour (the marts are hourly and
    # hourly decisions are what the operators act on); 0.25 would follow the 15-minute RT market.
    dt_hours: float = 1.0
    # Hours planned ahead by `allocation_plan` (the issue asks for 24 to 48).
    horizon_hours: int = 24
    # Cost of switching a device on (wear, warm-up, lost shares / model load), USD.
    restart_usd_asic: float = 0.5
    restart_usd_gpu: float = 2.0
    # Device rows of older plans are deleted after this many days (plan headers and summaries stay).
    keep_plan_days: int = 7
    # Shortfall penalty on committed GPUs as a multiple of the pool's rate when no contract says.
    penalty_rate_multiple: float = 2.0
    # GPU-hour price when neither usage nor rate cards give one, USD.
    default_gpu_rate_usd_per_h: float = 2.0
    # Hashprice when nothing is observed (USD per TH/s per day).
    default_hashprice_usd_per_th_day: float = 0.05
    # Observed prices above median + this many MADs are clipped before the seasonal naive forecast.
    price_spike_mads: float = 6.0
    # Energy price when a facility has no observed price at all, USD/MWh.
    default_price_usd_mwh: float = 50.0
    # Backtest optimizer policy (rolling horizon): re-solve the rest of the day every this many
    # intervals with the latest real-time price persisted, blending back to the day-ahead/naive
    # forecast with this half-life (hours) beyond the first hour ahead.
    replan_every_intervals: int = 1
    persistence_half_life_hours: float = 3.0
    # Let the optimizer see the real-time price of the interval it is deciding (what the strike rule
    # sees); False: only prices of intervals already over (the previous hour).
    realtime_guard: bool = True
    # Keep a kernel plan only when it beats "all on" and "on where the margin is positive" on the
    # same problem (the kernel is a heuristic with a gap; this needs no more information).
    safeguard: bool = True
    # The backtest plans each UTC day, whose end (the Eastern evening peak) is not the end of the
    # fleet's life: with this, a device left off at the end of a plan pays its restart there, as it
    # will when it runs again the next day. Without it, curtailing the last hours looks free.
    restart_after_horizon: bool = True


DEFAULT_PLANNING = PlanningConfig()
