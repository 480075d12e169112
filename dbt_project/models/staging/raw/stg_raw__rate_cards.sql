with

source as (
    {{ latest_load(source('raw', 'rate_cards'), ['rate_card_id', 'effective_from']) }}
),

renamed as (
    select
        rate_card_id,
        nullif(customer_id, '') as customer_id,
        gpu_model,
        workload_type,
        price_usd_per_gpu_hour::numeric(12, 6) as price_usd_per_gpu_hour,
        greatest(min_increment_seconds, 1) as min_increment_seconds,
        effective_from as effective_at,
        load_id
    from source
)

select * from renamed
