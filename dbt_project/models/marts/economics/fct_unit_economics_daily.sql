{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        window_column='day_start_at',
        late_source={'table': 'energy_prices', 'column': 'interval_start_utc'},
        window_grain='day',
        indexes=[{'columns': ['day_start_at']}],
    )
}}
-- USD earned per MWh by hardware model and UTC day, ASIC and GPU models side by side.
{%- set window = incremental_window('day_start_at', 'day') %}

with

device_hourly as (
    select * from {{ ref('fct_device_hourly') }}
    where hour_start_at >= {{ window.start }} and hour_start_at < {{ window.end }}
),

daily as (
    select
        date_trunc('day', hour_start_at, 'UTC') as day_start_at,
        device_kind,
        hardware_model,
        count(distinct device_id) as device_count,
        sum(facility_energy_kwh) / 1000 as energy_mwh,
        sum(mining_revenue_usd) as mining_revenue_usd,
        sum(inference_revenue_usd) as inference_revenue_usd,
        sum(energy_cost_usd) as energy_cost_usd,
        sum(uptime_seconds) as uptime_seconds
    from device_hourly
    group by 1, 2, 3
),

final as (
    select
        md5(extract(epoch from day_start_at)::bigint::text || '|' || hardware_model) as unit_economics_id,
        day_start_at,
        (day_start_at at time zone 'UTC')::date as activity_date,
        device_kind,
        hardware_model,
        device_count::integer as device_count,
        energy_mwh::numeric(18, 6) as energy_mwh,
        mining_revenue_usd::numeric(18, 6) as mining_revenue_usd,
        inference_revenue_usd::numeric(18, 6) as inference_revenue_usd,
        (mining_revenue_usd + inference_revenue_usd)::numeric(18, 6) as revenue_usd,
        energy_cost_usd::numeric(18, 6) as energy_cost_usd,
        (mining_revenue_usd + inference_revenue_usd - energy_cost_usd)::numeric(18, 6) as margin_usd,
        ((mining_revenue_usd + inference_revenue_usd) / nullif(energy_mwh, 0))::numeric(18, 6) as usd_earned_per_mwh,
        ((mining_revenue_usd + inference_revenue_usd - energy_cost_usd) / nullif(energy_mwh, 0))::numeric(18, 6)
            as margin_usd_per_mwh,
        (uptime_seconds / 3600.0)::numeric(14, 3) as uptime_hours
    from daily
)

select * from final
