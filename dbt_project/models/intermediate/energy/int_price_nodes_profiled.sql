-- Interval length of each node's real-time and day-ahead prices (5-minute, 15-minute or hourly):
-- device intervals are aligned to these market intervals.
with

energy_prices as (
    select * from {{ ref('stg_raw__energy_prices') }}
),

profiled as (
    select
        market,
        price_node_name,
        mode() within group (order by interval_minutes) filter (where price_kind = 'rt') as rt_interval_minutes,
        mode() within group (order by interval_minutes) filter (where price_kind = 'da') as da_interval_minutes
    from energy_prices
    group by market, price_node_name
)

select * from profiled
