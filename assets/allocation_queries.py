"""All SQL of the allocation assets: readers of the marts (fleet, hourly history, initial state,
commitments, champion forecasts) and writers of the ops.allocation_* tables (migration 0008).

Pool names: a GPU's ``gpu_pool``, else its hardware model (as ``kernels.planning.builder.device_pools``).
Prices: hourly mean of the node's real-time price, day-ahead where a node has no real-time price
(the rule of ``marts.fct_facility_hourly``), per facility through its market and node.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg

from kernels.hashprice import per_th_hour
from kernels.planning import Fleet, Forecast


def _frame(conn: psycopg.Connection, sql: str, params: Any = None) -> pd.DataFrame:
    cur = conn.execute(sql, params)
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def _wide(frame: pd.DataFrame, column: str, value: str) -> pd.DataFrame:
    """Long (at, column, value) rows as a wide float frame indexed by UTC time."""
    if frame.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
    wide = frame.pivot_table(index="at", columns=column, values=value, aggfunc="mean")
    wide.index = pd.DatetimeIndex(wide.index).tz_convert("UTC")
    wide.columns.name = None
    return wide.astype(float)


def load_fleet(conn: psycopg.Connection) -> Fleet:
    """Devices (marts.dim_devices) and facilities (marts.dim_facilities) as a Fleet."""
    devices = _frame(
        conn,
        """
        select device_id, facility_id, device_kind, gpu_pool, hardware_model,
            nominal_power_kw::float8 as nominal_power_kw, nominal_hashrate_ths::float8 as nominal_hashrate_ths
        from marts.dim_devices order by device_id
        """,
    )
    facilities = _frame(
        conn,
        """
        select facility_id, market, price_node_name, power_cap_kw::float8 as power_cap_kw, pue::float8 as pue
        from marts.dim_facilities order by facility_id
        """,
    )
    return Fleet(devices, facilities)


def load_history(conn: psycopg.Connection, since: datetime, until: datetime) -> Forecast:
    """Realized hourly inputs in [since, until): prices per facility, hashprice (USD per TH/s per
    hour), GPU-hours served per pool and hour, realized GPU rate per pool and day, commitments."""
    window = {"since": since, "until": until}
    prices = load_prices(conn, since, until)
    hashprice = _frame(
        conn,
        """
        select hour_start_at as at, hashprice_usd_per_th_day::float8 as value
        from intermediate.int_hashprices_computed
        where hour_start_at >= %(since)s and hour_start_at < %(until)s and hashprice_usd_per_th_day is not null
        order by 1
        """,
        window,
    )
    demand = _frame(
        conn,
        """
        select coalesce(d.gpu_pool, d.hardware_model) as pool, h.hour_start_at as at,
            (sum(h.inference_gpu_seconds) / 3600.0)::float8 as gpus
        from marts.fct_device_hourly h join marts.dim_devices d using (device_id)
        where d.device_kind = 'gpu' and h.hour_start_at >= %(since)s and h.hour_start_at < %(until)s
        group by 1, 2
        """,
        window,
    )
    rates = _frame(
        conn,
        """
        select gpu_pool as pool, usage_date::timestamp at time zone 'UTC' as at,
            (sum(amount_usd) / nullif(sum(billable_gpu_seconds) / 3600.0, 0))::float8 as rate
        from marts.fct_usage
        where usage_date >= %(since)s::date and usage_date < %(until)s
        group by 1, 2
        """,
        window,
    )
    series = (
        hashprice.set_index(pd.DatetimeIndex(hashprice["at"]).tz_convert("UTC"))["value"]
        if len(hashprice)
        else None
    )
    return Forecast(
        prices_usd_mwh=_wide(prices, "facility_id", "price"),
        day_ahead_usd_mwh=_wide(prices.dropna(subset=["da"]), "facility_id", "da"),
        hashprice_usd_per_th_h=per_th_hour(series.astype(float))
        if series is not None
        else pd.Series(dtype=float),
        gpu_rate_usd_per_h=_with_card_rates(_wide(rates, "pool", "rate"), card_rates(conn)),
        demand_gpus=_wide(demand, "pool", "gpus"),
        committed_gpus=committed_gpus(conn, since, until),
    )


def load_prices(conn: psycopg.Connection, since: datetime, until: datetime) -> pd.DataFrame:
    """Hourly prices per facility in [since, until): facility_id, at, price (real-time, else
    day-ahead), da (day-ahead or None), USD/MWh."""
    return _frame(
        conn,
        """
        with hourly as (
            select market, price_node_name, date_trunc('hour', interval_start_at, 'UTC') as at,
                avg(price_usd_per_mwh) filter (where price_kind = 'rt')::float8 as rt,
                avg(price_usd_per_mwh) filter (where price_kind = 'da')::float8 as da
            from staging.stg_raw__energy_prices
            where interval_start_at >= %(since)s and interval_start_at < %(until)s
            group by 1, 2, 3
        )
        select f.facility_id, h.at, coalesce(h.rt, h.da) as price, h.da
        from hourly h join marts.dim_facilities f using (market, price_node_name)
        """,
        {"since": since, "until": until},
    )


def card_rates(conn: psycopg.Connection) -> pd.Series:
    """Public rate-card price (USD per GPU-hour) per pool: the mean over its GPUs' models and the
    cards in force now (latest effective_at per card)."""
    frame = _frame(
        conn,
        """
        with cards as (
            select distinct on (rate_card_id) gpu_model, price_usd_per_gpu_hour
            from staging.stg_raw__rate_cards
            where customer_id is null and effective_at <= now()
            order by rate_card_id, effective_at desc
        ),
        pools as (
            select distinct coalesce(gpu_pool, hardware_model) as pool, hardware_model
            from marts.dim_devices where device_kind = 'gpu'
        )
        select pools.pool, avg(cards.price_usd_per_gpu_hour)::float8 as rate
        from pools join cards on cards.gpu_model = pools.hardware_model
        group by 1
        """,
    )
    return frame.set_index("pool")["rate"] if len(frame) else pd.Series(dtype=float)


def _with_card_rates(rates: pd.DataFrame, cards: pd.Series) -> pd.DataFrame:
    """Realized rates, with a constant rate-card column for pools that have no usage."""
    missing = [pool for pool in cards.index if pool not in rates.columns]
    if not missing:
        return rates
    if rates.empty:
        index = pd.DatetimeIndex([pd.Timestamp("2000-01-01", tz="UTC")])
        return pd.DataFrame({pool: [float(cards[pool])] for pool in missing}, index=index)
    return rates.assign(**{pool: float(cards[pool]) for pool in missing})


def committed_gpus(conn: psycopg.Connection, since: datetime, until: datetime) -> pd.DataFrame:
    """GPUs reserved by active billing.commitments per pool and hour in [since, until)."""
    frame = _frame(
        conn,
        """
        select c.gpu_pool as pool, h.at, sum(c.reserved_gpus)::float8 as gpus
        from generate_series(date_trunc('hour', %(since)s::timestamptz, 'UTC'), %(until)s::timestamptz
                             - interval '1 hour', interval '1 hour') as h (at)
        join billing.commitments c
            on c.effective_from <= h.at and (c.effective_to is null or c.effective_to > h.at)
        group by 1, 2
        """,
        {"since": since, "until": until},
    )
    return _wide(frame, "pool", "gpus")


def commitment_penalties(conn: psycopg.Connection, multiple: float) -> dict[str, float]:
    """Shortfall penalty per pool: `multiple` x the highest committed rate in force."""
    rows = conn.execute(
        """
        select gpu_pool, max(rate_usd_per_gpu_hour)::float8 from billing.commitments
        where effective_to is null or effective_to > now() group by 1
        """
    ).fetchall()
    return {pool: multiple * rate for pool, rate in rows}


def load_initial_on(conn: psycopg.Connection) -> dict[str, bool]:
    """Whether each device was running in its latest hour of marts.fct_device_hourly (ASIC: up;
    GPU: serving inference)."""
    rows = conn.execute(
        """
        select distinct on (device_id) device_id,
            case when device_kind = 'gpu' then inference_gpu_seconds > 0 else uptime_seconds > 0 end
        from marts.fct_device_hourly order by device_id, hour_start_at desc
        """
    ).fetchall()
    return dict(rows)


def data_end(conn: psycopg.Connection, telemetry: bool = False) -> datetime | None:
    """End (exclusive) of the latest hour with prices; with `telemetry`, also capped at the end of
    marts.fct_device_hourly (realized demand and state are known only there)."""
    row = conn.execute(
        """
        select least(
            (select date_trunc('hour', max(interval_start_at), 'UTC') from staging.stg_raw__energy_prices),
            case when %(telemetry)s then (select max(hour_start_at) from marts.fct_device_hourly) end
        ) + interval '1 hour'
        """,
        {"telemetry": telemetry},
    ).fetchone()
    return row[0] if row else None


def load_champion(
    conn: psycopg.Connection, fleet: Fleet, since: datetime, until: datetime
) -> Forecast | None:
    """Champion forecasts (ml.champion_forecasts) in [since, until) mapped onto facilities and
    pools, hourly; None when the view does not exist or holds nothing for the window."""
    if conn.execute("select to_regclass('ml.champion_forecasts')").fetchone()[0] is None:
        return None
    frame = _frame(
        conn,
        """
        select series, date_trunc('hour', target_at, 'UTC') as at, avg(yhat)::float8 as yhat
        from ml.champion_forecasts
        where target_at >= %(since)s and target_at < %(until)s
        group by 1, 2
        """,
        {"since": since, "until": until},
    )
    if frame.empty:
        return None
    nodes = fleet.facilities.assign(
        series="price:" + fleet.facilities["market"] + ":" + fleet.facilities["price_node_name"]
    )
    prices = frame.merge(nodes[["series", "facility_id"]], on="series")
    hashprice = frame[frame["series"] == "hashprice"]
    demand = frame[frame["series"].str.startswith("demand:")].assign(pool=lambda f: f["series"].str[7:])
    hp = _wide(hashprice.assign(k="h"), "k", "yhat")
    return Forecast(
        prices_usd_mwh=_wide(prices, "facility_id", "yhat"),
        hashprice_usd_per_th_h=per_th_hour(hp["h"]) if "h" in hp else pd.Series(dtype=float),
        demand_gpus=_wide(demand, "pool", "yhat"),
    )


# --- writers -------------------------------------------------------------------------------------


def _copy(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> None:
    columns = ", ".join(frame.columns)
    with conn.cursor() as cur, cur.copy(f"copy {table} ({columns}) from stdin") as copy:
        for row in frame.itertuples(index=False, name=None):
            copy.write_row(row)


def write_plan(
    conn: psycopg.Connection,
    plan: dict[str, Any],
    rows: pd.DataFrame,
    summary: pd.DataFrame,
    keep_days: int = 7,
) -> None:
    """Insert one plan: its ops.allocation_plans row, device rows and facility summary (one
    transaction). Device rows of plans issued more than `keep_days` before it are deleted (plan
    headers and facility summaries are kept)."""
    with conn.transaction():
        conn.execute(
            "delete from ops.allocation_plan where issued_at < %s - make_interval(days => %s)",
            (plan["issued_at"], keep_days),
        )
        conn.execute(
            """
            insert into ops.allocation_plans (plan_id, issued_at, horizon_start, horizon_hours, dt_hours,
                objective, upper_bound, gap, seconds, devices, intervals, status, inputs)
            values (%(plan_id)s, %(issued_at)s, %(horizon_start)s, %(horizon_hours)s, %(dt_hours)s,
                %(objective)s, %(upper_bound)s, %(gap)s, %(seconds)s, %(devices)s, %(intervals)s,
                %(status)s, %(inputs)s)
            """,
            {**plan, "inputs": json.dumps(plan.get("inputs", {}))},
        )
        ids = {"plan_id": plan["plan_id"]}
        _copy(conn, "ops.allocation_plan", rows.assign(**ids, issued_at=plan["issued_at"]))
        _copy(conn, "ops.allocation_plan_facility_summary", summary.assign(**ids))


def write_backtest(conn: psycopg.Connection, run: dict[str, Any], daily: pd.DataFrame) -> None:
    """Insert one backtest run and its rows per day and policy (one transaction)."""
    columns = ["day", "policy", "realized_profit_usd", "revenue_usd", "energy_cost_usd", "restart_cost_usd",
               "penalty_usd", "energy_mwh", "device_hours"]  # fmt: skip
    with conn.transaction():
        conn.execute(
            """
            insert into ops.allocation_backtest_runs (run_id, ran_at, first_day, last_day, days, dt_hours, summary)
            values (%(run_id)s, %(ran_at)s, %(first_day)s, %(last_day)s, %(days)s, %(dt_hours)s, %(summary)s)
            """,
            {**run, "summary": json.dumps(run.get("summary", {}), default=float)},
        )
        if len(daily):
            frame = daily[columns].assign(run_id=run["run_id"])
            _copy(conn, "ops.allocation_backtest", frame.astype({c: float for c in columns[2:]}))
