"""Replay a fleet over a real price history: the planning backtest (``kernels.planning.backtest``)
fed with one real hourly price series and a daily hashprice, summarised per month and year.

Every device sits at one facility whose node is the price series. What each policy knows at each
hour is the backtest's rule (see its module docstring): the optimizer plans the day from the
previous day's spike-clipped prices (a seasonal-naive forecast) and the previous day's hashprice,
and re-plans every hour from the real-time price as it settles, like the strike-price rule reacts
to it; perfect foresight knows the whole day. GPUs (if the fleet has any) are sold in full at a
fixed rate: the replay is about energy prices, not inference demand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kernels.planning.backtest import POLICIES, backtest, backtest_days
from kernels.planning.builder import Fleet, Forecast, device_pools
from kernels.planning.config import DEFAULT_PLANNING, PlanningConfig

SUMMED = (
    "realized_profit_usd",
    "energy_mwh",
    "device_hours",
    "curtailed_device_hours",
    "curtailed_hours",
    "restarts",
)


def replay_history(
    fleet: Fleet,
    prices_usd_mwh: pd.Series,
    hashprice_usd_per_th_day: pd.Series,
    gpu_rate_usd_per_h: float = DEFAULT_PLANNING.default_gpu_rate_usd_per_h,
) -> Forecast:
    """Realized hourly inputs for the backtest: the hourly price (UTC index) at every facility, the
    daily hashprice held over each UTC day (USD per TH/s per hour), every GPU pool sold in full."""
    index = prices_usd_mwh.index
    facilities = list(fleet.facilities["facility_id"])
    prices = pd.DataFrame({f: prices_usd_mwh.to_numpy(float) for f in facilities}, index=index)
    daily = hashprice_usd_per_th_day.sort_index()
    hours = pd.date_range(index.min().floor("D"), index.max().ceil("D"), freq="h", tz=index.tz)
    days = hours.floor("D").unique()
    per_day = daily.reindex(daily.index.union(days)).ffill().bfill().reindex(days)
    hashprice = pd.Series(per_day.reindex(hours.floor("D")).to_numpy(float) / 24.0, index=hours)
    pools = device_pools(fleet.devices).dropna().value_counts()
    demand = pd.DataFrame({p: np.full(len(hours), float(n)) for p, n in pools.items()}, index=hours)
    rate = pd.DataFrame({p: np.full(len(hours), gpu_rate_usd_per_h) for p in pools.index}, index=hours)
    return Forecast(prices, hashprice, rate, demand, demand.iloc[:, :0].copy())


@dataclass
class Replay:
    """Realized figures per day and policy (see ``backtest.BacktestResult.daily``), plus the number
    of days skipped for a missing hour of prices."""

    daily: pd.DataFrame
    skipped_days: int

    def monthly(self) -> pd.DataFrame:
        """One row per month: profit per policy, the optimizer's share of perfect foresight and its
        lead over the strike-price rule, curtailment and restarts of the optimizer and the rule."""
        if self.daily.empty:
            return pd.DataFrame()
        frame = self.daily.assign(month=pd.to_datetime(self.daily["day"]).dt.strftime("%Y-%m"))
        return _table(frame, "month")

    def yearly(self) -> pd.DataFrame:
        """As ``monthly`` per calendar year, and one row ``all`` over the whole replay."""
        if self.daily.empty:
            return pd.DataFrame()
        frame = self.daily.assign(year=pd.to_datetime(self.daily["day"]).dt.strftime("%Y"))
        whole = _table(frame.assign(year="all"), "year")
        return pd.concat([_table(frame, "year"), whole], ignore_index=True)


def _table(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    sums = frame.pivot_table(index=by, columns="policy", values=list(SUMMED), aggfunc="sum")
    days = frame.groupby(by)["day"].nunique()
    out = pd.DataFrame({by: sums.index, "days": days.reindex(sums.index).to_numpy()})
    for policy in POLICIES:
        out[f"profit_{policy}"] = sums[("realized_profit_usd", policy)].to_numpy()
    out["optimizer_share_of_foresight"] = out["profit_optimizer"] / out["profit_perfect_foresight"]
    out["optimizer_minus_strike"] = out["profit_optimizer"] - out["profit_strike_price"]
    for policy in ("optimizer", "strike_price", "perfect_foresight"):
        out[f"curtailed_hours_{policy}"] = sums[("curtailed_hours", policy)].to_numpy()
        out[f"curtailed_device_hours_{policy}"] = sums[("curtailed_device_hours", policy)].to_numpy()
        out[f"restarts_{policy}"] = sums[("restarts", policy)].to_numpy().astype(int)
    return out


def replay(
    fleet: Fleet,
    prices_usd_mwh: pd.Series,
    hashprice_usd_per_th_day: pd.Series,
    config: PlanningConfig = DEFAULT_PLANNING,
    progress: Callable[[str], None] | None = None,
) -> Replay:
    """Replay ``fleet`` over hourly ``prices_usd_mwh`` (UTC index) with the daily hashprice, every
    day with a full day of prices and a full previous day; ``progress`` hears of each day."""
    history = replay_history(fleet, prices_usd_mwh, hashprice_usd_per_th_day)
    days = backtest_days(history, round(24 / config.dt_hours))
    first, last = prices_usd_mwh.index.min().ceil("D"), prices_usd_mwh.index.max().floor("D")
    total = len(pd.date_range(first, last, freq="D")) - 1  # whole days after the first one
    result = backtest(fleet, history, None, None, config, progress=progress)
    return Replay(result.daily, max(0, total - len(days)))
