-- Billable GPU-seconds per customer, workload, GPU pool, day IN THE CUSTOMER'S TIME ZONE and
-- rate-card version, priced exactly (NUMERIC). Billing-ready: a customer's local billing month is
-- the exact sum of its days. The metering rule (seconds rounded up to the card's min increment)
-- is applied once per metered piece in int_workload_usage_billable; this mart only sums those
-- pieces, so billable_gpu_seconds here is a sum of already-rounded pieces and is never rounded again.
with

pieces as (
    select * from {{ ref('int_workload_usage_billable') }}
),

final as (
    select
        usage_id,
        usage_date,
        customer_id,
        timezone,
        workload_id,
        workload_type,
        gpu_pool,
        gpu_model,
        rate_card_id,
        rate_card_effective_at,
        price_usd_per_gpu_hour,
        min_increment_seconds,
        count(distinct device_id)::integer as device_count,
        count(*)::integer as piece_count,
        min(piece_start_at) as first_piece_start_at,
        max(piece_end_at) as last_piece_end_at,
        sum(gpu_seconds)::bigint as gpu_seconds,
        sum(billable_gpu_seconds)::bigint as billable_gpu_seconds,
        sum(measured_gpu_seconds)::bigint as measured_gpu_seconds,
        (sum(util_weighted_seconds) / nullif(sum(util_seconds), 0))::double precision as avg_gpu_util_pct,
        {{ usd('sum(billable_gpu_seconds) * price_usd_per_gpu_hour / 3600') }}::numeric(18, 6) as amount_usd
    from pieces
    group by
        usage_id, usage_date, customer_id, timezone, workload_id, workload_type, gpu_pool, gpu_model,
        rate_card_id, rate_card_effective_at, price_usd_per_gpu_hour, min_increment_seconds
)

select * from final
