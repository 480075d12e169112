with

price_nodes as (
    select * from {{ ref('stg_raw__price_nodes') }}
),

profiles as (
    select * from {{ ref('int_price_nodes_profiled') }}
),

facilities as (
    select * from {{ ref('stg_raw__facilities') }}
),

facility_counts as (
    select
        market,
        price_node_name,
        count(*) as facility_count
    from facilities
    group by market, price_node_name
),

final as (
    select
        price_nodes.market || ':' || price_nodes.price_node_name as price_node_id,
        price_nodes.market,
        price_nodes.price_node_name,
        price_nodes.price_node_type,
        price_nodes.timezone,
        profiles.rt_interval_minutes,
        profiles.da_interval_minutes,
        coalesce(facility_counts.facility_count, 0)::integer as facility_count
    from price_nodes
    left join profiles
        on price_nodes.market = profiles.market and price_nodes.price_node_name = profiles.price_node_name
    left join facility_counts
        on
            price_nodes.market = facility_counts.market
            and price_nodes.price_node_name = facility_counts.price_node_name
)

select * from final
