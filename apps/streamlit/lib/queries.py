"""Every query the pages run: marts, ml, ops and billing only (never raw), parameterized, cached.

Each function returns a DataFrame; an empty one means "no data yet" (table missing or empty), and
pages show the hint to run ``hcp materialize``. Caches expire after ``TTL_SECONDS`` so live tiles
pick up new data within seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from apps.streamlit.lib import db

TTL_SECONDS = 10
SLOW_TTL_SECONDS = 60
# Schemas the app may read; `raw`, `staging` and `intermediate` are never touched.
APP_SCHEMAS = ("marts", "ml", "ops", "billing")


def _like(text: str | None) -> str | None:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards escaped."""
    if not text or not text.strip():
        return None
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- time ---------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def data_bounds() -> tuple[datetime, datetime] | None:
    """First hour and end (exclusive) of the facility-hourly mart, or None when it is empty."""
    df = db.frame(
        "select min(hour_start_at) as first_at, max(hour_start_at) + interval '1 hour' as end_at "
        "from marts.fct_facility_hourly"
    )
    if df.empty or pd.isna(df.iloc[0, 0]):
        return None
    return df.iloc[0, 0].to_pydatetime(), df.iloc[0, 1].to_pydatetime()


def period(days: float) -> tuple[datetime, datetime, datetime] | None:
    """(previous start, start, end) of the last ``days`` of data, for change-vs-previous KPIs."""
    bounds = data_bounds()
    if bounds is None:
        return None
    end = bounds[1]
    start = end - timedelta(days=days)
    return start - timedelta(days=days), start, end


# --- executive ----------------------------------------------------------------------------------

_KPIS = """
select
    count(*) as facility_hours,
    coalesce(sum(total_revenue_usd), 0) as total_revenue_usd,
    coalesce(sum(mining_revenue_usd), 0) as mining_revenue_usd,
    coalesce(sum(inference_revenue_usd), 0) as inference_revenue_usd,
    coalesce(sum(demand_response_credit_usd), 0) as demand_response_credit_usd,
    coalesce(sum(energy_cost_usd), 0) as energy_cost_usd,
    coalesce(sum(total_revenue_usd) - sum(energy_cost_usd), 0) as gross_margin_usd,
    coalesce(sum(energy_mwh), 0) as energy_mwh,
    sum(margin_usd) / nullif(sum(energy_mwh), 0) as margin_usd_per_mwh,
    sum(gpu_utilization_pct * gpu_count)
        / nullif(sum(gpu_count) filter (where gpu_utilization_pct is not null), 0) as gpu_utilization_pct,
    coalesce(sum(curtailed_mwh), 0) as curtailed_mwh,
    coalesce(sum(avoided_energy_cost_usd), 0) as avoided_energy_cost_usd
from marts.fct_facility_hourly
where hour_start_at >= %(start)s and hour_start_at < %(end)s
"""


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def kpi_totals(start: datetime, end: datetime) -> pd.DataFrame:
    """One row of fleet KPIs over [start, end): revenues, cost, margin, MWh, GPU utilization, curtailment."""
    return db.frame(_KPIS, {"start": start, "end": end})


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def facility_hourly(start: datetime, end: datetime) -> pd.DataFrame:
    """Hourly facility economics and utilization over [start, end), with facility names."""
    return db.frame(
        """
        select h.facility_id, coalesce(f.facility_name, h.facility_id) as facility_name, h.hour_start_at,
               h.energy_mwh, h.total_revenue_usd, h.mining_revenue_usd, h.inference_revenue_usd,
               h.demand_response_credit_usd, h.energy_cost_usd, h.margin_usd, h.curtailed_mwh,
               h.gpu_utilization_pct, h.asic_uptime_pct, h.power_cap_utilization_pct
        from marts.fct_facility_hourly as h
        left join marts.dim_facilities as f on f.facility_id = h.facility_id
        where h.hour_start_at >= %(start)s and h.hour_start_at < %(end)s
        order by h.hour_start_at, h.facility_id
        """,
        {"start": start, "end": end},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def revenue_mix_daily(start: datetime, end: datetime) -> pd.DataFrame:
    """Daily revenue by source (mining, inference, curtailment credits) over [start, end)."""
    return db.frame(
        """
        select date_trunc('day', hour_start_at, 'UTC') as day,
               sum(mining_revenue_usd) as mining, sum(inference_revenue_usd) as inference,
               sum(demand_response_credit_usd) as curtailment_credits
        from marts.fct_facility_hourly
        where hour_start_at >= %(start)s and hour_start_at < %(end)s
        group by 1 order by 1
        """,
        {"start": start, "end": end},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def usd_per_mwh_by_model(start: datetime, end: datetime) -> pd.DataFrame:
    """Revenue, energy cost and margin per MWh by hardware model over [start, end)."""
    return db.frame(
        """
        select hardware_model, min(device_kind) as device_kind,
               sum(facility_energy_kwh) / 1000 as energy_mwh,
               (sum(mining_revenue_usd) + sum(inference_revenue_usd))
                   / nullif(sum(facility_energy_kwh) / 1000, 0) as revenue_usd_per_mwh,
               sum(energy_cost_usd) / nullif(sum(facility_energy_kwh) / 1000, 0) as cost_usd_per_mwh,
               sum(margin_usd) / nullif(sum(facility_energy_kwh) / 1000, 0) as margin_usd_per_mwh
        from marts.fct_device_hourly
        where hour_start_at >= %(start)s and hour_start_at < %(end)s
        group by hardware_model
        order by margin_usd_per_mwh desc nulls last
        """,
        {"start": start, "end": end},
    )


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def optimizer_backtest() -> pd.DataFrame:
    """Realized profit per policy (optimizer, always-on, strike price, perfect foresight) of the latest backtest."""
    return db.frame(
        """
        select policy, days, realized_profit_usd, energy_mwh, device_hours
        from ops.allocation_backtest_totals
        where run_id = (select run_id from ops.allocation_backtest_runs order by ran_at desc limit 1)
        order by realized_profit_usd desc
        """
    )


# --- facilities and devices ---------------------------------------------------------------------


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def facilities() -> pd.DataFrame:
    """The facilities with power cap, PUE and device counts."""
    return db.frame(
        "select facility_id, facility_name, market, price_node_name, timezone, power_cap_kw, pue, "
        "asic_count, gpu_count from marts.dim_facilities order by facility_id"
    )


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def device_models() -> pd.DataFrame:
    """Distinct (device kind, hardware model) pairs."""
    return db.frame(
        "select device_kind, hardware_model, count(*) as devices from marts.dim_devices group by 1, 2 order by 1, 2"
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def rack_snapshot(facility_id: str) -> pd.DataFrame:
    """Each device of a facility at its rack position with its latest hour's temperature and utilization."""
    return db.frame(
        """
        with latest as (
            select max(hour_start_at) as at from marts.fct_device_hourly where facility_id = %(facility)s
        )
        select d.device_id, d.device_kind, d.hardware_model, d.rack, d.rack_row, d.rack_slot,
               h.hour_start_at, h.avg_temperature_c, h.avg_power_kw, h.avg_hashrate_ths, h.avg_gpu_util_pct,
               h.utilization_pct
        from marts.dim_devices as d
        cross join latest
        left join marts.fct_device_hourly as h
            on h.device_id = d.device_id and h.hour_start_at = latest.at
        where d.facility_id = %(facility)s
        order by d.rack, d.rack_slot
        """,
        {"facility": facility_id},
    )


_DEVICES = """
with devices as (
    select d.device_id, d.facility_id, coalesce(f.facility_name, d.facility_id) as facility_name,
           d.device_kind, d.hardware_model, d.gpu_pool, d.rack, d.rack_slot, d.nominal_power_kw,
           s.avg_power_kw, s.avg_temperature_c, s.utilization_pct, s.device_status as status
    from marts.dim_devices as d
    join marts.fct_device_status_current as s on s.device_id = d.device_id
    left join marts.dim_facilities as f on f.facility_id = d.facility_id
)
select *, count(*) over () as total_rows
from devices
where (%(facility)s::text is null or facility_id = %(facility)s)
  and (%(kind)s::text is null or device_kind = %(kind)s)
  and (%(model)s::text is null or hardware_model = %(model)s)
  and (%(status)s::text is null or status = %(status)s)
  and (%(search)s::text is null or device_id ilike %(search)s or hardware_model ilike %(search)s
       or rack ilike %(search)s or facility_name ilike %(search)s)
order by device_id
limit %(limit)s offset %(offset)s
"""


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def devices(
    facility: str | None = None,
    kind: str | None = None,
    model: str | None = None,
    status: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> pd.DataFrame:
    """One page of devices matching the filters, with latest-hour status; ``total_rows`` counts all matches."""
    params = {
        "facility": facility,
        "kind": kind,
        "model": model,
        "status": status,
        "search": _like(search),
        "limit": int(limit),
        "offset": int(offset),
    }
    return db.frame(_DEVICES, params)


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def device(device_id: str) -> pd.DataFrame:
    """One device's dimension row with its facility's name."""
    return db.frame(
        """
        select d.*, coalesce(f.facility_name, d.facility_id) as facility_name
        from marts.dim_devices as d left join marts.dim_facilities as f on f.facility_id = d.facility_id
        where d.device_id = %(device)s
        """,
        {"device": device_id},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def device_history(device_id: str, hours: int = 168) -> pd.DataFrame:
    """The device's hourly metrics over its last ``hours`` hours of data."""
    return db.frame(
        """
        select hour_start_at, avg_power_kw, avg_temperature_c, avg_hashrate_ths, avg_gpu_util_pct,
               uptime_pct, margin_usd, mining_revenue_usd, inference_revenue_usd, energy_cost_usd
        from marts.fct_device_hourly
        where device_id = %(device)s
          and hour_start_at > (select max(hour_start_at) from marts.fct_device_hourly where device_id = %(device)s)
                             - make_interval(hours => %(hours)s)
        order by hour_start_at
        """,
        {"device": device_id, "hours": int(hours)},
    )


# --- anomalies, plan, data quality ---------------------------------------------------------------

_ANOMALIES = """
with latest as (select max(end_at) as at from ml.anomalies)
select a.anomaly_id, a.device_id,
       coalesce(d.facility_id, case when a.device_model = 'facility' then a.device_id end) as anomaly_facility_id, a.device_model, a.metric, a.severity,
       a.score, a.start_at as anomaly_at, a.end_at, a.detector, a.explanation, a.detected_at,
       a.end_at >= latest.at - interval '24 hours' as is_open
from ml.anomalies as a
cross join latest
left join marts.dim_devices as d on d.device_id = a.device_id
where (%(device)s::text is null or a.device_id = %(device)s)
order by a.start_at desc
limit %(limit)s
"""


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def anomalies(device_id: str | None = None, limit: int = 500) -> pd.DataFrame:
    """Latest anomalies (all, or one device's) with facility; open = still active in the last 24 h of data."""
    return db.frame(_ANOMALIES, {"device": device_id, "limit": int(limit)})


_LATEST_PLAN = "(select plan_id from ops.allocation_plans order by issued_at desc limit 1)"


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def plan_by_mode(facility_id: str) -> pd.DataFrame:
    """The latest allocation plan of a facility: MW by mode (mine, serve, off) per interval and the cap."""
    return db.frame(
        f"""
        select s.interval_start as interval_start_at, m.mode, m.mw, s.cap_mw, s.expected_profit_usd
        from ops.allocation_plan_facility_summary as s
        cross join lateral (
            values ('mine', s.mw_mining), ('serve', s.mw_inference), ('off', s.mw_curtailed)
        ) as m (mode, mw)
        where s.plan_id = {_LATEST_PLAN} and s.facility_id = %(facility)s
        order by 1, 2
        """,
        {"facility": facility_id},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def device_plan(device_id: str) -> pd.DataFrame:
    """The planned mode of one device per interval in the latest plan, with the reason when off."""
    return db.frame(
        """
        select interval_start as interval_start_at,
               case mode when 'mining' then 'mine' when 'inference' then 'serve' else 'off' end as mode,
               expected_margin_usd, reason
        from ops.allocation_plan_latest where device_id = %(device)s order by 1
        """,
        {"device": device_id},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def freshness() -> pd.DataFrame:
    """Per facility: latest hour of data in the facility and device marts."""
    return db.frame(
        """
        select f.facility_id, f.facility_name,
               (select max(hour_start_at) from marts.fct_facility_hourly as h
                where h.facility_id = f.facility_id) as facility_data_until,
               (select max(hour_start_at) from marts.fct_device_hourly as d
                where d.facility_id = f.facility_id) as device_data_until
        from marts.dim_facilities as f order by f.facility_id
        """
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def alerts(limit: int = 50) -> pd.DataFrame:
    """Latest data-quality and run-failure alerts."""
    return db.frame(
        "select raised_at, severity, source, title, asset_key, check_name, partition_key "
        "from ops.alerts order by raised_at desc limit %(limit)s",
        {"limit": int(limit)},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def failing_checks() -> pd.DataFrame:
    """The latest result of each (suite, asset, partition) check that did not pass."""
    return db.frame(
        """
        select * from (
            select distinct on (suite, asset_key, partition_key)
                   suite, asset_key, partition_key, passed, severity, unexpected_count, rows_checked, checked_at
            from ops.check_results
            order by suite, asset_key, partition_key, checked_at desc
        ) as latest
        where not passed order by checked_at desc limit 100
        """
    )


# --- workloads and billing ------------------------------------------------------------------------

_WORKLOADS = """
select workload_id, customer_id, workload_type, gpu_pool, max(gpu_model) as gpu_model,
       min(usage_date) as first_day, max(usage_date) as last_day,
       sum(gpu_seconds) / 3600.0 as gpu_hours, sum(amount_usd) as amount_usd,
       max(device_count) as devices, count(*) over () as total_rows
from marts.fct_usage
where (%(customer)s::text is null or customer_id = %(customer)s)
  and (%(workload_type)s::text is null or workload_type = %(workload_type)s)
  and (%(pool)s::text is null or gpu_pool = %(pool)s)
  and (%(search)s::text is null or workload_id ilike %(search)s or customer_id ilike %(search)s)
group by workload_id, customer_id, workload_type, gpu_pool
order by last_day desc, workload_id
limit %(limit)s offset %(offset)s
"""


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def workloads(
    customer: str | None = None,
    workload_type: str | None = None,
    pool: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> pd.DataFrame:
    """One page of workloads with GPU hours and billed amount; ``total_rows`` counts all matches."""
    params = {
        "customer": customer,
        "workload_type": workload_type,
        "pool": pool,
        "search": _like(search),
        "limit": int(limit),
        "offset": int(offset),
    }
    return db.frame(_WORKLOADS, params)


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def workload_filters() -> pd.DataFrame:
    """Distinct (customer, workload type, pool) combinations for the filter boxes."""
    return db.frame(
        "select distinct customer_id, workload_type, gpu_pool from marts.fct_usage order by 1, 2, 3"
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def workload_usage(workload_id: str) -> pd.DataFrame:
    """Daily usage rows of one workload: first and last running moment, GPU seconds, rate and amount."""
    return db.frame(
        """
        select usage_date, customer_id, workload_type, gpu_pool, gpu_model, rate_card_id, price_usd_per_gpu_hour,
               device_count, first_piece_start_at, last_piece_end_at, gpu_seconds, billable_gpu_seconds,
               avg_gpu_util_pct, amount_usd
        from marts.fct_usage where workload_id = %(workload)s order by usage_date
        """,
        {"workload": workload_id},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def workload_sessions(workload_id: str) -> pd.DataFrame:
    """Invoiced running sessions of one workload (start, end, GPUs, seconds, rate, invoice number)."""
    return db.frame(
        """
        select u.started_at, u.ended_at, u.gpus, u.gpu_seconds, u.billable_seconds, u.rate_usd_per_gpu_hour,
               i.invoice_number
        from billing.invoice_line_usage as u
        join billing.invoice_lines as l on l.line_id = u.line_id
        join billing.invoices as i on i.invoice_id = l.invoice_id
        where u.workload_id = %(workload)s order by u.started_at limit 1000
        """,
        {"workload": workload_id},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def workload_events(workload_id: str) -> pd.DataFrame:
    """Lifecycle events of one workload in time order (marts.fct_workload_events)."""
    return db.frame(
        """
        select event_at, event_type, gpu_pool, gpus_requested, device_count, event_id
        from marts.fct_workload_events where workload_id = %(workload)s order by event_at, event_id limit 1000
        """,
        {"workload": workload_id},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def usage_by_customer(start: datetime, end: datetime) -> pd.DataFrame:
    """Daily GPU hours and amount per customer between two dates."""
    return db.frame(
        """
        select usage_date, customer_id, sum(gpu_seconds) / 3600.0 as gpu_hours, sum(amount_usd) as amount_usd
        from marts.fct_usage
        where usage_date >= %(start)s::date and usage_date < %(end)s::date
        group by 1, 2 order by 1, 2
        """,
        {"start": start, "end": end},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def invoices(kind: str = "invoice", status: str | None = None) -> pd.DataFrame:
    """Invoices (or credit notes) with status and amounts, newest first."""
    return db.frame(
        """
        select invoice_id, invoice_number, kind, refers_to, customer_id, period, status, subtotal_usd,
               discount_usd, credit_usd, tax_usd, total_usd, reason, issued_at, due_at, paid_at
        from billing.invoices
        where kind = %(kind)s and (%(status)s::text is null or status = %(status)s)
        order by period desc, customer_id limit 1000
        """,
        {"kind": kind, "status": status},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def invoice_lines(invoice_id: int) -> pd.DataFrame:
    """The lines of one invoice."""
    return db.frame(
        "select line_no, line_kind, description, quantity, unit, unit_price_usd, amount_usd "
        "from billing.invoice_lines where invoice_id = %(invoice)s order by line_no",
        {"invoice": int(invoice_id)},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def budget_alerts() -> pd.DataFrame:
    """Budget alerts raised for customers, newest first."""
    return db.frame(
        "select raised_at, customer_id, period, threshold_pct, budget_usd, usage_to_date_usd, projected_usd, "
        "notified_at from billing.budget_alerts order by raised_at desc limit 500"
    )


def invoices_csv(invoices: pd.DataFrame) -> bytes:
    """The invoice list as CSV with formula-like text escaped (spreadsheet formula injection)."""
    from billing.reports import safe_csv

    return safe_csv(invoices)


def invoice_document(invoice_id: int, kind: str) -> bytes:
    """One invoice's PDF or CSV, rendered by the billing reports (the files ``hcp billing report`` writes).

    Not cached: the pages hand it to a download button, which calls it only when clicked."""
    from billing import reports  # on demand: fpdf and the PII helpers take seconds to load

    render = {"pdf": reports.render_invoice_pdf, "csv": reports.render_invoice_csv}[kind]
    return db.with_connection(lambda conn: render(conn, int(invoice_id)))[1]


# --- forecasts --------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def forecast_series() -> pd.DataFrame:
    """Series with a champion forecast, and their horizon."""
    return db.frame(
        "select series, min(model_name) as model_name, min(target_at) as first_at, max(target_at) as last_at, "
        "count(*) as points from ml.champion_forecasts group by series order by series"
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def forecast(series: str) -> pd.DataFrame:
    """The champion forecast of one series with its interval."""
    return db.frame(
        "select target_at, yhat, yhat_lower, yhat_upper, model_name, model_version, issued_at "
        "from ml.champion_forecasts where series = %(series)s order by target_at",
        {"series": series},
    )


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def forecast_metrics() -> pd.DataFrame:
    """Backtest metrics per series and model (latest evaluation of each)."""
    return db.frame(
        """
        select distinct on (series, model_name)
               series, model_name, model_version, is_champion, horizon_steps, folds, mape, smape, mae, mase,
               seconds, evaluated_at
        from ml.forecast_metrics order by series, model_name, evaluated_at desc
        """
    )


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def models() -> pd.DataFrame:
    """The model registry (no parameters blob)."""
    return db.frame(
        "select series, version, name, kind, status, metrics::text as metrics, train_start, train_end, created_at "
        "from ml.models order by series, version desc"
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def actuals_for_forecast(start: datetime, end: datetime) -> pd.DataFrame:
    """Hourly actual energy price, energy and revenue per facility, to plot against forecasts."""
    return db.frame(
        """
        select h.facility_id, f.facility_name, f.price_node_name, h.hour_start_at, h.avg_price_usd_per_mwh,
               h.energy_mwh, h.total_revenue_usd, h.gpu_utilization_pct
        from marts.fct_facility_hourly as h
        left join marts.dim_facilities as f on f.facility_id = h.facility_id
        where h.hour_start_at >= %(start)s and h.hour_start_at < %(end)s order by h.hour_start_at
        """,
        {"start": start, "end": end},
    )


# --- what-if inputs ----------------------------------------------------------------------------------


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def whatif_devices() -> pd.DataFrame:
    """Devices with their facility, pool and nominal power/hashrate, and whether they ran in the last hour."""
    return db.frame(
        """
        select d.device_id, d.facility_id, d.device_kind, d.hardware_model, d.gpu_pool, d.nominal_power_kw,
               d.nominal_hashrate_ths, s.device_status = 'running' as was_on
        from marts.dim_devices as d
        join marts.fct_device_status_current as s on s.device_id = d.device_id
        order by d.device_id
        """
    )


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def whatif_hours(hours: int = 24) -> pd.DataFrame:
    """Per facility and hour of the last ``hours`` hours: price, and fleet hashprice and GPU rates earned."""
    return db.frame(
        """
        with latest as (select max(hour_start_at) as at from marts.fct_device_hourly),
        window_hours as (
            select h.* from marts.fct_device_hourly as h cross join latest
            where h.hour_start_at > latest.at - make_interval(hours => %(hours)s)
        )
        select w.facility_id, w.hour_start_at, max(f.avg_price_usd_per_mwh) as price_usd_per_mwh,
               sum(w.mining_revenue_usd) / nullif(sum(w.avg_hashrate_ths * w.uptime_seconds / 3600.0), 0)
                   as hashprice_usd_per_th_h,
               sum(w.inference_revenue_usd) / nullif(sum(w.inference_gpu_seconds) / 3600.0, 0)
                   as rate_usd_per_gpu_h,
               count(*) filter (where w.device_kind = 'gpu' and w.inference_gpu_seconds > 0) as gpus_serving
        from window_hours as w
        left join marts.fct_facility_hourly as f
            on f.facility_id = w.facility_id and f.hour_start_at = w.hour_start_at
        group by 1, 2 order by 2, 1
        """,
        {"hours": int(hours)},
    )


# --- quick navigation ----------------------------------------------------------------------------------


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def search_index() -> pd.DataFrame:
    """Every device, workload and customer by id (kind, id, label) for the quick-navigation box."""
    parts = [
        db.frame(
            "select 'device' as kind, device_id as id, device_id || ' · ' || hardware_model as label "
            "from marts.dim_devices order by device_id"
        ),
        db.frame(
            "select 'customer' as kind, customer_id as id, customer_id as label from marts.dim_customers"
        ),
        db.frame(
            "select distinct 'workload' as kind, workload_id as id, workload_id || ' · ' || customer_id as label "
            "from marts.fct_usage"
        ),
    ]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["kind", "id", "label"])
