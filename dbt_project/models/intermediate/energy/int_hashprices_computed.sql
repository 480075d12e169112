-- Hashprice per hour from Bitcoin economics, the latest observation at or before the hour carried
-- forward (at most 2 days past the last one).
-- H = difficulty * 2^32 / 600 H/s; hashprice USD per TH/s per day = (subsidy + fees) * 144 * price / (H / 1e12)
with

btc_economics as (
    select * from {{ ref('stg_raw__btc_economics') }}
    where btc_price_usd is not null
),

hours as (
    select hour_start_at
    from
        generate_series(
            (select date_trunc('hour', min(observed_at), 'UTC') from btc_economics),
            (select max(observed_at) + interval '2 days' from btc_economics),
            interval '1 hour'
        ) as spine (hour_start_at)
),

-- each observation holds from its time until the next one (observed_at is unique in staging):
-- set-based, instead of one correlated lookup per hour
observations as (
    select
        *,
        lead(observed_at) over (order by observed_at) as next_observed_at
    from btc_economics
),

as_of as (
    select
        hours.hour_start_at,
        observations.observed_at,
        observations.btc_price_usd,
        observations.block_subsidy_btc,
        observations.fees_btc_per_block,
        coalesce(
            observations.network_difficulty * 4294967296 / 600 / 1e12,
            observations.network_hashrate_ths
        ) as network_hashrate_ths
    from hours
    inner join observations
        on
            hours.hour_start_at >= observations.observed_at
            and (observations.next_observed_at is null or hours.hour_start_at < observations.next_observed_at)
),

final as (
    select
        hour_start_at,
        observed_at,
        btc_price_usd,
        block_subsidy_btc,
        fees_btc_per_block,
        network_hashrate_ths,
        (block_subsidy_btc + fees_btc_per_block) * 144 * btc_price_usd
        / nullif(network_hashrate_ths, 0) as hashprice_usd_per_th_day
    from as_of
)

select * from final
