{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        window_column='hour_start_at',
        late_source={'table': 'energy_prices', 'column': 'interval_start_utc'},
        indexes=[{'columns': ['hour_start_at']}, {'columns': ['facility_id', 'hour_start_at'], 'unique': true}],
    )
}}
{%- set window = incremental_window('hour_start_at') %}
{%- set minutes = var('telemetry_interval_minutes') %}

with

facility_hours as (
    select * from {{ ref('int_facility_hours_localized') }}
    where hour_start_at >= {{ window.start }} and hour_start_at < {{ window.end }}
),

device_hourly as (
    select * from {{ ref('fct_device_hourly') }}
    where hour_start_at >= {{ window.start }} and hour_start_at < {{ window.end }}
),

site_meter_readings as (
    select * from {{ ref('stg_raw__site_meter_readings') }}
    where measured_at >= {{ window.start }} and measured_at < {{ window.end }}
),

demand_response_events as (
    select * from {{ ref('stg_raw__demand_response_events') }}
    where ended_at > {{ window.start }} and started_at < {{ window.end }}
),

energy_prices as (
    select * from {{ ref('stg_raw__energy_prices') }}
    where interval_start_at >= {{ window.start }} and interval_start_at < {{ window.end }}
),

facilities as (
    select * from {{ ref('dim_facilities') }}
),

devices_hourly as (
    select
        facility_id,
        hour_start_at,
        sum(energy_kwh) as it_energy_kwh,
        sum(facility_energy_kwh) as facility_energy_kwh,
        sum(energy_cost_usd) as energy_cost_usd,
        sum(mining_revenue_usd) as mining_revenue_usd,
        sum(inference_revenue_usd) as inference_revenue_usd,
        sum(avg_gpu_util_pct) filter (where device_kind = 'gpu') as gpu_util_pct_sum,
        sum(uptime_seconds) filter (where device_kind = 'asic') as asic_uptime_seconds
    from device_hourly
    group by 1, 2
),

meter_intervals as (
    select
        facility_id,
        date_bin(interval '{{ minutes }} minutes', measured_at, timestamptz '2000-01-01 00:00:00+00')
            as interval_start_at,
        avg(power_kw) as power_kw
    from site_meter_readings
    group by 1, 2
),

meter_hourly as (
    select
        facility_id,
        date_trunc('hour', interval_start_at, 'UTC') as hour_start_at,
        sum(power_kw * {{ minutes }} / 60.0) as site_meter_kwh
    from meter_intervals
    group by 1, 2
),

hourly_prices as (
    select
        market,
        price_node_name,
        date_trunc('hour', interval_start_at, 'UTC') as hour_start_at,
        coalesce(avg(price_usd_per_mwh) filter (where price_kind = 'rt'), avg(price_usd_per_mwh)) as price_usd_per_mwh
    from energy_prices
    group by 1, 2, 3
),

curtailment as (
    select
        facility_hours.facility_id,
        facility_hours.hour_start_at,
        sum(
            demand_response_events.curtail_kw
            * extract(
                epoch from
                least(demand_response_events.ended_at, facility_hours.hour_start_at + interval '1 hour')
                - greatest(demand_response_events.started_at, facility_hours.hour_start_at)
            ) / 3600.0 / 1000.0
        ) as curtailed_mwh,
        sum(
            demand_response_events.curtail_kw * demand_response_events.credit_usd_per_mwh
            * extract(
                epoch from
                least(demand_response_events.ended_at, facility_hours.hour_start_at + interval '1 hour')
                - greatest(demand_response_events.started_at, facility_hours.hour_start_at)
            ) / 3600.0 / 1000.0
        ) as demand_response_credit_usd
    from facility_hours
    inner join demand_response_events
        on
            facility_hours.facility_id = demand_response_events.facility_id
            and demand_response_events.started_at < facility_hours.hour_start_at + interval '1 hour'
            and facility_hours.hour_start_at < demand_response_events.ended_at
    group by 1, 2
),

joined as (
    select
        facility_hours.facility_id,
        facility_hours.hour_start_at,
        facility_hours.hour_start_local,
        facility_hours.local_date,
        facilities.power_cap_kw,
        facilities.asic_count,
        facilities.gpu_count,
        hourly_prices.price_usd_per_mwh,
        coalesce(devices_hourly.it_energy_kwh, 0) as it_energy_kwh,
        coalesce(devices_hourly.facility_energy_kwh, 0) as facility_energy_kwh,
        meter_hourly.site_meter_kwh,
        coalesce(devices_hourly.energy_cost_usd, 0) as energy_cost_usd,
        coalesce(devices_hourly.mining_revenue_usd, 0) as mining_revenue_usd,
        coalesce(devices_hourly.inference_revenue_usd, 0) as inference_revenue_usd,
        {{ usd('coalesce(curtailment.demand_response_credit_usd, 0)') }} as demand_response_credit_usd,
        coalesce(curtailment.curtailed_mwh, 0) as curtailed_mwh,
        devices_hourly.gpu_util_pct_sum,
        devices_hourly.asic_uptime_seconds
    from facility_hours
    inner join facilities on facility_hours.facility_id = facilities.facility_id
    left join devices_hourly
        on
            facility_hours.facility_id = devices_hourly.facility_id
            and facility_hours.hour_start_at = devices_hourly.hour_start_at
    left join meter_hourly
        on
            facility_hours.facility_id = meter_hourly.facility_id
            and facility_hours.hour_start_at = meter_hourly.hour_start_at
    left join hourly_prices
        on
            facilities.market = hourly_prices.market
            and facilities.price_node_name = hourly_prices.price_node_name
            and facility_hours.hour_start_at = hourly_prices.hour_start_at
    left join curtailment
        on
            facility_hours.facility_id = curtailment.facility_id
            and facility_hours.hour_start_at = curtailment.hour_start_at
),

final as (
    select
        facility_id,
        hour_start_at,
        hour_start_local,
        local_date,
        (facility_energy_kwh / 1000)::numeric(18, 6) as energy_mwh,
        (it_energy_kwh / 1000)::numeric(18, 6) as it_energy_mwh,
        (site_meter_kwh / 1000)::numeric(18, 6) as site_meter_mwh,
        (site_meter_kwh / nullif(it_energy_kwh, 0))::numeric(8, 4) as measured_pue,
        price_usd_per_mwh::numeric(12, 4) as avg_price_usd_per_mwh,
        energy_cost_usd::numeric(18, 6) as energy_cost_usd,
        mining_revenue_usd::numeric(18, 6) as mining_revenue_usd,
        inference_revenue_usd::numeric(18, 6) as inference_revenue_usd,
        demand_response_credit_usd::numeric(18, 6) as demand_response_credit_usd,
        (mining_revenue_usd + inference_revenue_usd + demand_response_credit_usd)::numeric(18, 6)
            as total_revenue_usd,
        (mining_revenue_usd + inference_revenue_usd + demand_response_credit_usd - energy_cost_usd)::numeric(18, 6)
            as margin_usd,
        (
            (mining_revenue_usd + inference_revenue_usd + demand_response_credit_usd - energy_cost_usd)
            / nullif(facility_energy_kwh / 1000, 0)
        )::numeric(18, 6) as margin_usd_per_mwh,
        curtailed_mwh::numeric(18, 6) as curtailed_mwh,
        {{ usd('curtailed_mwh * coalesce(price_usd_per_mwh, 0)') }}::numeric(18, 6) as avoided_energy_cost_usd,
        (coalesce(gpu_util_pct_sum, 0) / nullif(gpu_count, 0))::double precision as gpu_utilization_pct,
        (coalesce(asic_uptime_seconds, 0) / 36.0 / nullif(asic_count, 0))::numeric(7, 3) as asic_uptime_pct,
        (facility_energy_kwh / nullif(power_cap_kw, 0) * 100)::numeric(7, 3) as power_cap_utilization_pct,
        asic_count,
        gpu_count
    from joined
)

select * from final
