with

source as (
    {{ latest_load(source('raw', 'btc_economics'), ['observed_at']) }}
),

renamed as (
    select
        observed_at,
        btc_price_usd::numeric(14, 4) as btc_price_usd,
        difficulty::numeric(30, 4) as network_difficulty,
        hashrate_ths::numeric(24, 4) as network_hashrate_ths,
        block_subsidy_btc::numeric(12, 8) as block_subsidy_btc,
        coalesce(fees_btc_per_block, 0)::numeric(12, 8) as fees_btc_per_block,
        load_id
    from source
)

select * from renamed
