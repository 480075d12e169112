"""Series derived from platform records before forecasting: hashprice from Bitcoin economics and
GPU-hours of demand per pool (and its customers' time zone) from workload lifecycle events. Pure
pandas, no I/O."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kernels.hashprice import BLOCKS_PER_DAY, network_hashrate_ths

RUN_START = {"started", "resumed"}
RUN_STOP = {"paused", "completed", "cancelled", "failed"}


def hashprice(btc: pd.DataFrame) -> pd.Series:
    """USD per TH/s per day, indexed by ``observed_at`` (UTC, naive).

    H = difficulty x 2^32 / 600 H/s (or the reported network hash rate in TH/s when difficulty is
    missing); hashprice = (subsidy + fees) x 144 x BTC price / (H / 1e12), as DESIGN.md defines it.
    """
    frame = btc.sort_values("observed_at")
    difficulty = pd.to_numeric(frame["difficulty"], errors="coerce")
    network_ths = network_hashrate_ths(difficulty)
    if "hashrate_ths" in frame:
        network_ths = network_ths.fillna(pd.to_numeric(frame["hashrate_ths"], errors="coerce"))
    fees = pd.to_numeric(frame["fees_btc_per_block"], errors="coerce").fillna(0.0)
    reward = pd.to_numeric(frame["block_subsidy_btc"], errors="coerce") + fees
    value = reward * BLOCKS_PER_DAY * pd.to_numeric(frame["btc_price_usd"], errors="coerce") / network_ths
    index = pd.DatetimeIndex(pd.to_datetime(frame["observed_at"], utc=True)).tz_localize(None)
    return pd.Series(value.to_numpy(float), index=index, name="hashprice").dropna()


def gpu_hours(events: pd.DataFrame, freq: str = "1h", by: str = "gpu_pool") -> pd.DataFrame:
    """GPU-hours served per pool (or per value of column ``by``) and interval: columns are pools,
    index the interval starts (UTC, naive), values GPU-hours in that interval.

    A workload runs from a ``started``/``resumed`` event to the next ``paused``/``completed``/
    ``cancelled``/``failed`` one, on ``len(device_ids)`` GPUs (``gpus_requested`` when not given).
    A run without an end is cut at the last event time seen.
    """
    if events.empty:
        return pd.DataFrame()
    ev = events.copy()
    ev["event_at"] = pd.to_datetime(ev["event_at"], utc=True).dt.tz_localize(None)
    ev = ev.sort_values(["workload_id", "event_at"])
    horizon_end = ev["event_at"].max()
    step = pd.Timedelta(freq)
    rows: list[tuple[str, pd.Timestamp, pd.Timestamp, float]] = []
    for _, group in ev.groupby("workload_id", sort=False):
        pool = group[by].dropna().iloc[0] if group[by].notna().any() else "unknown"
        started, gpus = None, 0.0
        for row in group.itertuples(index=False):
            if row.event_type in RUN_START and started is None:
                started = row.event_at
                ids = row.device_ids if isinstance(row.device_ids, list | tuple | np.ndarray) else []
                gpus = float(len(ids) or (row.gpus_requested or 0))
            elif row.event_type in RUN_STOP and started is not None:
                rows.append((pool, started, row.event_at, gpus))
                started = None
        if started is not None:
            rows.append((pool, started, horizon_end, gpus))
    if not rows:
        return pd.DataFrame()
    start = min(r[1] for r in rows).floor(step)
    grid = pd.date_range(start, horizon_end.ceil(step), freq=step)
    out = pd.DataFrame(0.0, index=grid[:-1] if len(grid) > 1 else grid, columns=sorted({r[0] for r in rows}))
    edges = out.index.to_numpy()
    for pool, begin, end, gpus in rows:
        # overlap of [begin, end) with each interval, in hours, times the GPUs running
        lo = np.maximum(edges, np.datetime64(begin))
        hi = np.minimum(edges + np.timedelta64(step), np.datetime64(end))
        hours = np.clip((hi - lo) / np.timedelta64(1, "h"), 0.0, None)
        out[pool] += hours * gpus
    return out


def pool_demand(events: pd.DataFrame, customer_tz: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """GPU-hours per pool and hour (see ``gpu_hours``) and each pool's time zone: that of the
    customers who bring most of its GPU-hours (their working week shapes the demand). Customers
    without a known zone count as UTC."""
    if events.empty:
        return pd.DataFrame(), {}
    customers = events["customer_id"] if "customer_id" in events else pd.Series(None, index=events.index)
    zones = customers.map(customer_tz).fillna("UTC")
    key = events["gpu_pool"].fillna("unknown").astype(str) + "\t" + zones
    split = gpu_hours(events.assign(pool_zone=key), by="pool_zone")
    if split.empty:
        return split, {}
    pools = split.columns.str.split("\t").str[0]
    demand = split.T.groupby(pools).sum().T
    top = split.sum().groupby(pools).idxmax()
    return demand, {pool: str(col).split("\t")[1] for pool, col in top.items()}


def hashprice_from_revenue(revenue_usd_per_day: pd.Series, hashrate_ths: pd.Series) -> pd.Series:
    """Daily hashprice (USD per TH/s per day) by UTC day from miners' revenue (subsidy and fees, USD
    per day) and the network hash rate (TH/s), both observed every few days (any UTC times): each is
    interpolated in time onto every day between the first and last day both cover, then divided.
    Days with no hash rate (the network's first days) are left out."""

    def daily(series: pd.Series) -> pd.Series:
        s = series.dropna().sort_index()
        s = s[~s.index.duplicated(keep="last")]
        days = pd.date_range(s.index.min().ceil("D"), s.index.max().floor("D"), freq="D", tz=s.index.tz)
        return s.reindex(s.index.union(days)).interpolate(method="time").reindex(days)

    revenue, rate = daily(revenue_usd_per_day), daily(hashrate_ths)
    both = revenue.index.intersection(rate.index)
    value = revenue.reindex(both) / rate.reindex(both).where(rate.reindex(both) > 0)
    return value.dropna().rename("hashprice_usd_per_th_day")
