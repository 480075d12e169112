{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        window_column='hour_start_at',
        late_source={'table': 'energy_prices', 'column': 'interval_start_utc'},
        pre_hook="set local work_mem = '256MB'",
        indexes=[
            {'columns': ['hour_start_at']},
            {'columns': ['device_id', 'hour_start_at'], 'unique': true},
        ],
    )
}}
{%- set window = incremental_window('hour_start_at') %}
{%- set minutes = var('telemetry_interval_minutes') %}

with

device_intervals as (
    select * from {{ ref('int_device_intervals_aligned') }}
    where interval_start_at >= {{ window.start }} and interval_start_at < {{ window.end }}
),

usage as (
    select * from {{ ref('int_workload_usage_metered') }}
    where hour_start_at >= {{ window.start }} and hour_start_at < {{ window.end }}
),

devices as (
    select * from {{ ref('stg_raw__devices') }}
),

intervals_hourly as (
    select
        device_id,
        hour_start_at,
        sum(energy_kwh) as energy_kwh,
        sum(facility_energy_kwh) as facility_energy_kwh,
        sum(energy_cost_usd) as energy_cost_usd,
        sum(mining_revenue_usd) as mining_revenue_usd,
        count(*) filter (where is_up) * {{ minutes }} * 60 as uptime_seconds,
        avg(power_kw) as avg_power_kw,
        avg(temperature_c) as avg_temperature_c,
        avg(gpu_util_pct) as avg_gpu_util_pct,
        avg(hashrate_ths) as avg_hashrate_ths,
        sum(sample_count) as sample_count
    from device_intervals
    group by device_id, hour_start_at
),

usage_hourly as (
    select
        device_id,
        hour_start_at,
        sum(gpu_seconds) as inference_gpu_seconds,
        sum(revenue_usd) as inference_revenue_usd
    from usage
    group by device_id, hour_start_at
),

device_hours as (
    select
        coalesce(intervals_hourly.device_id, usage_hourly.device_id) as device_id,
        coalesce(intervals_hourly.hour_start_at, usage_hourly.hour_start_at) as hour_start_at,
        intervals_hourly.energy_kwh,
        intervals_hourly.facility_energy_kwh,
        intervals_hourly.energy_cost_usd,
        intervals_hourly.mining_revenue_usd,
        intervals_hourly.uptime_seconds,
        intervals_hourly.avg_power_kw,
        intervals_hourly.avg_temperature_c,
        intervals_hourly.avg_gpu_util_pct,
        intervals_hourly.avg_hashrate_ths,
        intervals_hourly.sample_count,
        usage_hourly.inference_gpu_seconds,
        usage_hourly.inference_revenue_usd
    from intervals_hourly
    full outer join usage_hourly
        on
            intervals_hourly.device_id = usage_hourly.device_id
            and intervals_hourly.hour_start_at = usage_hourly.hour_start_at
),

final as (
    select
        device_hours.device_id,
        device_hours.hour_start_at,
        devices.facility_id,
        devices.device_kind,
        devices.hardware_model,
        coalesce(device_hours.energy_kwh, 0)::numeric(18, 6) as energy_kwh,
        coalesce(device_hours.facility_energy_kwh, 0)::numeric(18, 6) as facility_energy_kwh,
        {{ usd('coalesce(device_hours.energy_cost_usd, 0)') }}::numeric(18, 6) as energy_cost_usd,
        {{ usd('coalesce(device_hours.mining_revenue_usd, 0)') }}::numeric(18, 6) as mining_revenue_usd,
        {{ usd('coalesce(device_hours.inference_revenue_usd, 0)') }}::numeric(18, 6) as inference_revenue_usd,
        (
            {{ usd('coalesce(device_hours.mining_revenue_usd, 0)') }}
            + {{ usd('coalesce(device_hours.inference_revenue_usd, 0)') }}
            - {{ usd('coalesce(device_hours.energy_cost_usd, 0)') }}
        )::numeric(18, 6) as margin_usd,
        coalesce(device_hours.uptime_seconds, 0)::integer as uptime_seconds,
        (coalesce(device_hours.uptime_seconds, 0) / 36.0)::numeric(7, 3) as uptime_pct,
        coalesce(device_hours.inference_gpu_seconds, 0)::integer as inference_gpu_seconds,
        device_hours.avg_power_kw::numeric(12, 4) as avg_power_kw,
        device_hours.avg_temperature_c::double precision as avg_temperature_c,
        device_hours.avg_gpu_util_pct::double precision as avg_gpu_util_pct,
        device_hours.avg_hashrate_ths::numeric(12, 4) as avg_hashrate_ths,
        case
            when devices.device_kind = 'asic' and device_hours.avg_hashrate_ths > 0
                then (device_hours.avg_power_kw * 1000 / device_hours.avg_hashrate_ths)::numeric(10, 3)
        end as efficiency_j_per_th,
        coalesce(device_hours.sample_count, 0)::integer as sample_count,
        -- GPUs: measured utilization; ASICs: measured hashrate against nameplate
        coalesce(
            device_hours.avg_gpu_util_pct,
            device_hours.avg_hashrate_ths / nullif(devices.nominal_hashrate_ths, 0) * 100
        )::double precision as utilization_pct,
        case
            when coalesce(device_hours.sample_count, 0) = 0 then 'offline'
            when coalesce(device_hours.uptime_seconds, 0) / 36.0 >= {{ var('device_running_min_uptime_pct') }}
                then 'running'
            else 'idle'
        end as device_status
    from device_hours
    inner join devices on device_hours.device_id = devices.device_id
)

select * from final
