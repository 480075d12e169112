-- Billable GPU-seconds per customer, workload, GPU pool, UTC day and rate card. Metering is per
-- second: each device's running time within a day is rounded up to the card's
-- min_increment_seconds, then priced at the card's GPU-hour price (exact NUMERIC).
with

usage as (
    select * from {{ ref('int_workload_usage_metered') }}
),

device_days as (
    select
        (hour_start_at at time zone 'UTC')::date as usage_date,
        customer_id,
        workload_id,
        workload_type,
        gpu_pool,
        gpu_model,
        device_id,
        session_id,
        rate_card_id,
        rate_card_effective_at,
        price_usd_per_gpu_hour,
        min_increment_seconds,
        sum(gpu_seconds) as gpu_seconds,
        sum(measured_gpu_seconds) as measured_gpu_seconds,
        sum(avg_gpu_util_pct * gpu_seconds) as util_weighted_seconds
    from usage
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
),

rounded as (
    select
        *,
        ceil(gpu_seconds::numeric / min_increment_seconds) * min_increment_seconds as billable_gpu_seconds
    from device_days
),

final as (
    select
        md5(concat_ws(
            '|', usage_date, customer_id, workload_id, gpu_pool, rate_card_id,
            extract(epoch from rate_card_effective_at)::bigint
        ))
            as usage_id,
        usage_date,
        customer_id,
        workload_id,
        workload_type,
        gpu_pool,
        gpu_model,
        rate_card_id,
        rate_card_effective_at,
        price_usd_per_gpu_hour,
        min_increment_seconds,
        count(distinct device_id)::integer as device_count,
        sum(gpu_seconds)::bigint as gpu_seconds,
        sum(billable_gpu_seconds)::bigint as billable_gpu_seconds,
        sum(measured_gpu_seconds)::bigint as measured_gpu_seconds,
        (sum(util_weighted_seconds) / nullif(sum(gpu_seconds), 0))::double precision as avg_gpu_util_pct,
        {{ usd('sum(billable_gpu_seconds) * price_usd_per_gpu_hour / 3600') }}::numeric(18, 6) as amount_usd
    from rounded
    group by 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
)

select * from final
