"""A synthetic fleet written straight into the marts (and ml, ops, billing) tables the app reads.

For ``hcp bench app`` only (the app's tests use a fleet built by the real pipeline, see
apps/streamlit/fleet.py): the benchmark renders pages at the default fleet (1,000 devices) with 7 and
28 days of history, and building those through the simulator, loader, dbt and every downstream asset
takes longer than the benchmark itself (about 9 minutes for 7 days alone, README "Two commands"),
while this writes them in seconds. The marts tables are created from the dbt contracts
(dbt_project/models/marts, :func:`marts_ddl`) and fct_device_status_current is built by dbt itself;
the ml, ops and billing tables come from the migrations of the scratch database. Deterministic: ``setseed`` fixes PostgreSQL's random().
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import yaml

from core.dbt import DBT_PROJECT_DIR, run_dbt

# The marts this writer fills; their tables are created from the dbt contracts (column names and
# data types of dbt_project/models/marts/**/_*.yml), so they cannot drift from what dbt builds.
MARTS = (
    "dim_facilities",
    "dim_devices",
    "dim_customers",
    "fct_device_hourly",
    "fct_facility_hourly",
    "fct_usage",
)
MARTS_INDEXES = """
create unique index if not exists fct_device_hourly_key on marts.fct_device_hourly (device_id, hour_start_at);
create index if not exists fct_device_hourly_hour on marts.fct_device_hourly (hour_start_at);
create unique index if not exists fct_facility_hourly_key on marts.fct_facility_hourly (facility_id, hour_start_at);
"""


def contract_columns() -> dict[str, list[tuple[str, str]]]:
    """(column, data type) of every contracted mart, in the order of its contract."""
    models: dict[str, list[tuple[str, str]]] = {}
    for path in sorted((DBT_PROJECT_DIR / "models" / "marts").rglob("_*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            models[model["name"]] = [(c["name"], c["data_type"]) for c in model.get("columns", [])]
    return models


def marts_ddl(names: tuple[str, ...] = MARTS) -> str:
    """``create table if not exists`` statements of the ``names`` marts, from their dbt contracts."""
    contracts = contract_columns()
    tables = []
    for name in names:
        columns = ", ".join(f"{column} {data_type}" for column, data_type in contracts[name])
        tables.append(f"create table if not exists marts.{name} ({columns})")
    return ";\n".join(tables) + ";\n" + MARTS_INDEXES


_FACILITIES = """
insert into marts.dim_facilities (facility_id, facility_name, market, price_node_name, timezone, power_cap_kw,
                                  pue, asic_count, gpu_count, nominal_it_power_kw)
select 'F' || f, (array['Abilene', 'Odessa', 'Midland', 'Pecos', 'Sweetwater'])[1 + (f - 1) %% 5] || ' ' || f,
       'ERCOT', 'HB_WEST', 'America/Chicago', 0, 1.10 + 0.05 * ((f - 1) %% 3), 0, 0, 0
from generate_series(1, %(facilities)s) as f
"""

# 85% ASICs in two models, GPUs in two pools; 40 slots per rack.
_DEVICES = """
insert into marts.dim_devices (device_id, facility_id, device_kind, hardware_model, gpu_pool, nominal_power_kw,
                               nominal_hashrate_ths, nominal_efficiency_j_per_th, rack, rack_row, rack_slot)
select 'D' || lpad(i::text, 6, '0'), 'F' || (1 + i %% %(facilities)s),
       case when i %% 20 < 17 then 'asic' else 'gpu' end,
       case when i %% 20 < 10 then 'S19j Pro' when i %% 20 < 17 then 'S21' when i %% 20 < 19 then 'H100' else 'L40S' end,
       case when i %% 20 in (17, 18) then 'h100' when i %% 20 = 19 then 'l40s' end,
       case when i %% 20 < 10 then 3.05 when i %% 20 < 17 then 3.5 when i %% 20 < 19 then 0.7 else 0.35 end,
       case when i %% 20 < 10 then 100 when i %% 20 < 17 then 200 else 0 end,
       case when i %% 20 < 10 then 30.5 when i %% 20 < 17 then 17.5 end,
       'R' || lpad((i / %(facilities)s / 40)::text, 3, '0'), 1 + (i / %(facilities)s / 400),
       1 + (i / %(facilities)s) %% 40
from generate_series(0, %(devices)s - 1) as i
"""

_COUNTS = """
update marts.dim_facilities as f set
    asic_count = c.asics, gpu_count = c.gpus, nominal_it_power_kw = c.kw, power_cap_kw = round(c.kw * f.pue * 0.9, 3)
from (select facility_id, count(*) filter (where device_kind = 'asic') as asics,
             count(*) filter (where device_kind = 'gpu') as gpus, sum(nominal_power_kw) as kw
      from marts.dim_devices group by facility_id) as c
where c.facility_id = f.facility_id
"""

_DEVICE_HOURS = """
insert into marts.fct_device_hourly (
    device_id, hour_start_at, facility_id, device_kind, hardware_model, energy_kwh, facility_energy_kwh,
    energy_cost_usd, mining_revenue_usd, inference_revenue_usd, margin_usd, uptime_seconds, uptime_pct,
    inference_gpu_seconds, avg_power_kw, avg_temperature_c, avg_gpu_util_pct, avg_hashrate_ths,
    efficiency_j_per_th, sample_count, utilization_pct, device_status)
with hours as (
    select h as hour_start_at,
           40 + 20 * sin(extract(epoch from h) / 3600.0 / 24 * 2 * pi()) as base_price
    from generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour', interval '1 hour') as h
),
draws as (
    select d.*, f.pue, h.hour_start_at, (h.base_price + 3 * right(d.facility_id, 1)::int)::numeric as price,
           random()::numeric as r_up, random()::numeric as r_perf, random()::numeric as r_temp
    from marts.dim_devices as d
    join marts.dim_facilities as f on f.facility_id = d.facility_id
    cross join hours as h
),
metrics as (
    select *, r_up > 0.05 as up,
           case when device_kind = 'gpu' then round((r_perf * 100)::numeric, 2) end as util,
           case when device_kind = 'asic' and r_up > 0.05 then nominal_hashrate_ths * (0.9 + 0.12 * r_perf) else 0 end
               as hashrate
    from draws
),
powered as (
    select *,
           case when not up then 0
                when device_kind = 'gpu' then nominal_power_kw * (0.3 + 0.7 * util / 100)
                else nominal_power_kw * (0.95 + 0.05 * r_perf) end as power,
           case when device_kind = 'gpu' and up and util > 20 then 3600 else 0 end as gpu_seconds
    from metrics
)
select device_id, hour_start_at, facility_id, device_kind, hardware_model,
       power, power * pue, round(power * pue / 1000 * price, 6),
       round((hashrate * 0.0021)::numeric, 6), round(gpu_seconds / 3600.0 * 2.5, 6),
       round((hashrate * 0.0021)::numeric, 6) + round(gpu_seconds / 3600.0 * 2.5, 6) - round(power * pue / 1000 * price, 6),
       case when up then 3600 else 0 end, case when up then 100 else 0 end, gpu_seconds, power,
       case when up then 50 + 30 * r_temp else 30 end, util, hashrate,
       case when hashrate > 0 then power * 1000 / hashrate end, case when up then 12 else 0 end,
       coalesce(util, hashrate / nullif(nominal_hashrate_ths, 0) * 100), case when up then 'running' else 'offline' end
from powered
"""

_FACILITY_HOURS = """
insert into marts.fct_facility_hourly (
    facility_id, hour_start_at, hour_start_local, local_date, energy_mwh, it_energy_mwh, site_meter_mwh,
    measured_pue, avg_price_usd_per_mwh, energy_cost_usd, mining_revenue_usd, inference_revenue_usd,
    demand_response_credit_usd, total_revenue_usd, margin_usd, margin_usd_per_mwh, curtailed_mwh,
    avoided_energy_cost_usd, gpu_utilization_pct, asic_uptime_pct, power_cap_utilization_pct, asic_count, gpu_count)
select h.facility_id, h.hour_start_at, (h.hour_start_at at time zone 'America/Chicago'),
       (h.hour_start_at at time zone 'America/Chicago')::date,
       h.fkwh / 1000, h.kwh / 1000, h.fkwh / 1000 * 1.01, 1.01 * h.fkwh / nullif(h.kwh, 0),
       40 + 20 * sin(extract(epoch from h.hour_start_at) / 3600.0 / 24 * 2 * pi()) + 3 * right(h.facility_id, 1)::int,
       h.cost, h.mining, h.inference, h.dr, h.mining + h.inference + h.dr, h.mining + h.inference + h.dr - h.cost,
       (h.mining + h.inference + h.dr - h.cost) / nullif(h.fkwh / 1000, 0), h.curtailed, h.curtailed * 55,
       h.util_sum / nullif(f.gpu_count, 0), h.asic_up / 36.0 / nullif(f.asic_count, 0),
       h.fkwh / nullif(f.power_cap_kw, 0) * 100, f.asic_count, f.gpu_count
from (
    select facility_id, hour_start_at, sum(energy_kwh) as kwh, sum(facility_energy_kwh) as fkwh,
           sum(energy_cost_usd) as cost, sum(mining_revenue_usd) as mining, sum(inference_revenue_usd) as inference,
           case when extract(hour from hour_start_at) = 18 then 25.0 else 0 end as dr,
           case when extract(hour from hour_start_at) = 18 then 0.5 else 0 end as curtailed,
           sum(avg_gpu_util_pct) filter (where device_kind = 'gpu') as util_sum,
           sum(uptime_seconds) filter (where device_kind = 'asic') as asic_up
    from marts.fct_device_hourly group by 1, 2
) as h
join marts.dim_facilities as f on f.facility_id = h.facility_id
"""

_USAGE = """
insert into marts.dim_customers (customer_id, customer_type, timezone, tax_rate)
select 'C' || lpad(c::text, 3, '0'), case when c %% 2 = 0 then 'enterprise' else 'startup' end, 'UTC', 0.0825
from generate_series(1, 6) as c;
insert into marts.fct_usage (
    usage_id, usage_date, customer_id, workload_id, workload_type, gpu_pool, gpu_model, rate_card_id,
    rate_card_effective_at, price_usd_per_gpu_hour, min_increment_seconds, device_count, first_piece_start_at,
    last_piece_end_at, gpu_seconds, billable_gpu_seconds, measured_gpu_seconds, avg_gpu_util_pct, amount_usd)
select md5(w::text || d::text), d::date, 'C' || lpad((1 + w %% 6)::text, 3, '0'), 'W' || lpad(w::text, 5, '0'),
       (array['inference', 'batch', 'fine-tune'])[1 + w %% 3], case when w %% 3 = 2 then 'l40s' else 'h100' end,
       case when w %% 3 = 2 then 'L40S' else 'H100' end, 'RC-' || (w %% 3), now() - interval '90 days',
       2.5, 60, 1 + w %% 4, d + make_interval(hours => w %% 12), d + make_interval(hours => w %% 12 + 2 + w %% 5),
       3600 * (1 + w %% 4) * (2 + w %% 5), 3600 * (1 + w %% 4) * (2 + w %% 5),
       3600 * (1 + w %% 4) * (2 + w %% 5), 60 + w %% 30, 2.5 * (1 + w %% 4) * (2 + w %% 5)
from generate_series(1, 40) as w
cross join generate_series(%(start)s::date, (%(end)s::timestamptz - interval '1 hour')::date, interval '1 day') as d
where (w + extract(doy from d)::int) %% 3 <> 0
"""

_ML = """
insert into ml.anomalies (device_id, device_model, start_at, end_at, metric, score, severity, detector, explanation)
select device_id, hardware_model, %(end)s::timestamptz - interval '3 hours' - (n || ' hours')::interval,
       %(end)s::timestamptz - (n || ' hours')::interval, 'temperature_c', 0.9 - n * 0.01,
       (array['critical', 'warning', 'info'])[1 + n %% 3], 'iforest', 'temperature far above fleet peers'
from (select device_id, hardware_model, row_number() over (order by device_id) as n
      from marts.dim_devices where device_kind = 'asic' limit 12) as d
on conflict do nothing;
insert into ml.models (series, version, name, kind, status, train_start, train_end, metrics)
values ('price:HB_WEST', 1, 'prophet', 'prophet', 'champion', %(start)s, %(end)s, '{"smape": 0.12}'),
       ('price:HB_WEST', 2, 'seasonal_naive', 'baseline', 'challenger', %(start)s, %(end)s, '{"smape": 0.2}')
on conflict do nothing;
insert into ml.forecast_metrics (series, model_name, model_version, horizon_steps, folds, mape, smape, mae, mase,
                                 seconds, is_champion)
values ('price:HB_WEST', 'prophet', 1, 24, 3, 0.11, 0.12, 4.2, 0.8, 1.5, true),
       ('price:HB_WEST', 'seasonal_naive', 2, 24, 3, 0.19, 0.2, 7.1, 1.0, 0.01, false);
insert into ml.forecasts (series, model_version, model_name, issued_at, target_at, yhat, yhat_lower, yhat_upper)
select 'price:HB_WEST', 1, 'prophet', %(end)s::timestamptz - interval '48 hours', t,
       45 + 20 * sin(extract(epoch from t) / 3600.0 / 24 * 2 * pi()),
       35 + 20 * sin(extract(epoch from t) / 3600.0 / 24 * 2 * pi()),
       55 + 20 * sin(extract(epoch from t) / 3600.0 / 24 * 2 * pi())
from generate_series(%(end)s::timestamptz - interval '48 hours', %(end)s::timestamptz + interval '23 hours',
                     interval '1 hour') as t
on conflict do nothing;
"""

_BILLING = """
insert into billing.invoices (customer_id, period, period_start, period_end, timezone, status, invoice_number,
                              subtotal_usd, tax_rate, tax_usd, total_usd, kind)
select 'C' || lpad(c::text, 3, '0'), '2026-10', '2026-10-01', '2026-11-01', 'UTC', 'draft', 'INV-' || lpad(c::text, 5, '0'),
       1000 * c, 0.0825, round(82.5 * c, 2), 1000 * c + round(82.5 * c, 2), 'invoice'
from generate_series(1, 3) as c;
insert into billing.invoice_lines (invoice_id, line_no, line_kind, description, quantity, unit, unit_price_usd, amount_usd)
select invoice_id, 1, 'usage', 'H100 inference GPU hours', subtotal_usd / 2.5, 'gpu_hour', 2.5, subtotal_usd
from billing.invoices;
update billing.invoices set status = 'finalized', issued_at = '2026-11-01', due_at = '2026-12-01'
where invoice_number = 'INV-00001';
insert into billing.budget_alerts (customer_id, period, threshold_pct, budget_usd, usage_to_date_usd, projected_usd)
values ('C002', '2026-11', 80, 5000, 4100, 6200) on conflict do nothing;
"""

_PLAN = """
insert into ops.allocation_plans (plan_id, issued_at, horizon_start, horizon_hours, dt_hours, objective, upper_bound,
                                  gap, seconds, devices, intervals, status)
select 'synthetic', %(end)s, %(end)s, 24, 1, 1000, 1010, 0.01, 0.5, count(*), 24, 'feasible' from marts.dim_devices;
insert into ops.allocation_plan (plan_id, issued_at, device_id, interval_start, mode, expected_margin_usd, reason)
select 'synthetic', %(end)s, d.device_id, t,
       case when random() < 0.15 then 'curtailed' when d.device_kind = 'gpu' then 'inference' else 'mining' end,
       0.1, 'synthetic'
from marts.dim_devices as d
cross join generate_series(%(end)s::timestamptz, %(end)s::timestamptz + interval '23 hours', interval '1 hour') as t;
insert into ops.allocation_plan_facility_summary
select 'synthetic', d.facility_id, p.interval_start,
       sum(d.nominal_power_kw * f.pue) filter (where p.mode = 'mining') / 1000.0,
       coalesce(sum(d.nominal_power_kw * f.pue) filter (where p.mode = 'inference'), 0) / 1000.0,
       coalesce(sum(d.nominal_power_kw * f.pue) filter (where p.mode = 'curtailed'), 0) / 1000.0,
       max(f.power_cap_kw) / 1000.0, 10
from ops.allocation_plan as p
join marts.dim_devices as d on d.device_id = p.device_id
join marts.dim_facilities as f on f.facility_id = d.facility_id
group by 1, 2, 3;
insert into ops.allocation_backtest_runs (run_id, ran_at, first_day, last_day, days, dt_hours)
values ('synthetic', %(end)s, %(start)s::date, %(end)s::date, 2, 1);
insert into ops.allocation_backtest (run_id, day, policy, realized_profit_usd, revenue_usd, energy_cost_usd,
                                     restart_cost_usd, penalty_usd, energy_mwh, device_hours)
select 'synthetic', %(start)s::date + d, p.policy, p.profit, p.profit * 2, p.profit, 0, 0, 10, 100
from generate_series(0, 1) as d
cross join (values ('optimizer', 1200.0), ('always_on', 900.0), ('strike_price', 1000.0),
                   ('perfect_foresight', 1300.0)) as p (policy, profit)
"""


def seed(
    url: str, facilities: int = 3, devices: int = 1000, days: int = 7, end: datetime | None = None
) -> None:
    """Write a synthetic fleet of ``devices`` over ``days`` ending at ``end`` (default: this hour) into
    the migrated database ``url``."""
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    params = {"facilities": facilities, "devices": devices, "start": start, "end": end}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select setseed(0.42)")
        conn.execute(marts_ddl())
        blocks = [
            _FACILITIES,
            _DEVICES,
            _COUNTS,
            _DEVICE_HOURS,
            _FACILITY_HOURS,
            _USAGE,
            _ML,
            _BILLING,
            _PLAN,
        ]
        for block in blocks:
            for statement in block.split(";\n"):
                if statement.strip():
                    conn.execute(statement, params)
    # the per-device status of the latest hour is dbt's own model, built on the tables written above
    with tempfile.TemporaryDirectory(prefix="hcp-bench-app-dbt-") as target:
        run_dbt(url, "run", "--select", "fct_device_status_current", target_path=Path(target))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("analyze")
