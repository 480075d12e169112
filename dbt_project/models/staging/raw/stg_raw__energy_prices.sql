with

source as (
    {{ latest_load(source('raw', 'energy_prices'), ['market', 'node_name', 'price_kind', 'interval_start_utc']) }}
),

renamed as (
    select
        market,
        node_name as price_node_name,
        price_kind,
        interval_start_utc as interval_start_at,
        interval_start_utc + make_interval(mins => interval_minutes) as interval_end_at,
        interval_minutes::integer as interval_minutes,
        interval_start_local,
        price_usd_per_mwh::numeric(12, 4) as price_usd_per_mwh,
        load_id
    from source
)

select * from renamed
