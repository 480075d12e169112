{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        window_column='interval_start_at',
        late_source={'table': 'energy_prices', 'column': 'interval_start_utc'},
        pre_hook=[
            "set local work_mem = '256MB'",
            "set local enable_mergejoin = off",
        ],
        post_hook="analyze {{ this }}",
        indexes=[
            {'columns': ['interval_start_at']},
            {'columns': ['device_id', 'interval_start_at'], 'unique': true},
        ],
    )
}}
-- One row per device and telemetry interval (5 minutes), aligned to the market interval of the
-- facility's price node (real-time price, else day-ahead), with energy, cost and mining revenue.
{%- set window = incremental_window('interval_start_at') %}
{%- set minutes = var('telemetry_interval_minutes') %}

with

telemetry as (
    select * from {{ ref('stg_raw__device_telemetry') }}
    where measured_at >= {{ window.start }} and measured_at < {{ window.end }}
),

-- first and last sample of the window: two lookups on the measured_at index of the staging table
telemetry_bounds as (
    select
        date_bin(interval '{{ minutes }} minutes', min(measured_at), timestamptz '2000-01-01 00:00:00+00')
            as first_interval_start_at,
        max(measured_at) as last_measured_at
    from {{ ref('stg_raw__device_telemetry') }}
    where measured_at >= {{ window.start }} and measured_at < {{ window.end }}
),

devices as (
    select * from {{ ref('stg_raw__devices') }}
),

facilities as (
    select * from {{ ref('stg_raw__facilities') }}
),

price_nodes as (
    select * from {{ ref('int_price_nodes_profiled') }}
),

energy_prices as (
    select * from {{ ref('stg_raw__energy_prices') }}
    where interval_start_at >= {{ window.start }} - interval '1 day' and interval_start_at < {{ window.end }}
),

hashprices as (
    select * from {{ ref('int_hashprices_computed') }}
),

intervals as (
    select
        device_id,
        date_bin(interval '{{ minutes }} minutes', measured_at, timestamptz '2000-01-01 00:00:00+00')
            as interval_start_at,
        max(measured_at) as last_measured_at,
        count(*) as sample_count,
        avg(power_kw) as power_kw,
        avg(hashrate_ths) as hashrate_ths,
        avg(gpu_util_pct) as gpu_util_pct,
        avg(temperature_c) as temperature_c
    from telemetry
    group by 1, 2
),

-- Prices depend on the facility (its market and price node) and the interval only: they are
-- looked up once per facility and telemetry interval of the window (a few thousand rows), and the
-- device intervals then join that on plain equality keys (facility_id, interval_start_at). Joining
-- every device interval to the prices on a computed market interval let the planner pick a merge
-- join on (market, node) alone, comparing each device interval with every price of its node.
-- Merge joins are off for this model (pre-hook): with the row estimates of the aggregated intervals
-- the planner otherwise sorts all device intervals (on disk) to merge them with a few thousand
-- facility intervals, where a hash join on the small side is linear and in memory.
facility_intervals as (
    select
        facilities.facility_id,
        facilities.pue,
        facilities.market,
        facilities.price_node_name,
        spine.interval_start_at,
        date_trunc('hour', spine.interval_start_at, 'UTC') as hour_start_at,
        date_bin(
            make_interval(mins => coalesce(price_nodes.rt_interval_minutes, 60)),
            spine.interval_start_at,
            timestamptz '2000-01-01 00:00:00+00'
        ) as rt_interval_start_at,
        date_bin(
            make_interval(mins => coalesce(price_nodes.da_interval_minutes, 60)),
            spine.interval_start_at,
            timestamptz '2000-01-01 00:00:00+00'
        ) as da_interval_start_at
    from facilities
    left join price_nodes
        on
            facilities.market = price_nodes.market
            and facilities.price_node_name = price_nodes.price_node_name
    cross join telemetry_bounds
    cross join
        lateral generate_series(
            telemetry_bounds.first_interval_start_at,
            telemetry_bounds.last_measured_at,
            interval '{{ minutes }} minutes'
        ) as spine (interval_start_at)
),

facility_prices as (
    select
        facility_intervals.facility_id,
        facility_intervals.pue,
        facility_intervals.interval_start_at,
        facility_intervals.hour_start_at,
        coalesce(rt.interval_start_at, da.interval_start_at) as market_interval_start_at,
        coalesce(rt.price_kind, da.price_kind) as price_kind,
        coalesce(rt.price_usd_per_mwh, da.price_usd_per_mwh) as price_usd_per_mwh,
        hashprices.hashprice_usd_per_th_day
    from facility_intervals
    left join energy_prices as rt
        on
            facility_intervals.market = rt.market
            and facility_intervals.price_node_name = rt.price_node_name
            and rt.price_kind = 'rt'
            and facility_intervals.rt_interval_start_at = rt.interval_start_at
    left join energy_prices as da
        on
            facility_intervals.market = da.market
            and facility_intervals.price_node_name = da.price_node_name
            and da.price_kind = 'da'
            and facility_intervals.da_interval_start_at = da.interval_start_at
    left join hashprices on facility_intervals.hour_start_at = hashprices.hour_start_at
),

priced as (
    select
        intervals.*,
        devices.facility_id,
        devices.device_kind,
        facility_prices.pue,
        facility_prices.hour_start_at,
        facility_prices.market_interval_start_at,
        facility_prices.price_kind,
        facility_prices.price_usd_per_mwh,
        facility_prices.hashprice_usd_per_th_day
    from intervals
    inner join devices on intervals.device_id = devices.device_id
    inner join facility_prices
        on
            devices.facility_id = facility_prices.facility_id
            and intervals.interval_start_at = facility_prices.interval_start_at
),

final as (
    select
        device_id,
        facility_id,
        device_kind,
        interval_start_at,
        hour_start_at,
        market_interval_start_at,
        last_measured_at,
        sample_count,
        power_kw,
        hashrate_ths,
        gpu_util_pct,
        temperature_c,
        price_kind,
        price_usd_per_mwh,
        hashprice_usd_per_th_day,
        coalesce(power_kw, 0) > {{ var('device_up_min_power_kw') }}
        and (device_kind <> 'asic' or coalesce(hashrate_ths, 0) > 0) as is_up,
        coalesce(power_kw, 0) * {{ minutes }} / 60.0 as energy_kwh,
        coalesce(power_kw, 0) * {{ minutes }} / 60.0 * pue as facility_energy_kwh,
        {{ usd("coalesce(power_kw, 0) * " ~ minutes ~ " / 60.0 * pue * price_usd_per_mwh / 1000") }} as energy_cost_usd,
        {{ usd("coalesce(hashrate_ths, 0) * hashprice_usd_per_th_day * " ~ minutes ~ " / 1440.0") }}
            as mining_revenue_usd
    from priced
)

select * from final
