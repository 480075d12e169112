-- Billable usage pieces: THE place where GPU-seconds are metered for billing. One row per session
-- (one device running one workload span, from int_workload_sessions_built), per calendar day in
-- the CUSTOMER'S OWN time zone, per rate-card version in force. A session is cut at each local
-- midnight of the customer and at each effective time of a rate card that applies to it (the
-- customer's own cards from its first one on, the list cards for the GPU model and workload type
-- before that; a new card applies from its effective time, never retroactively). Each piece's
-- seconds are rounded UP to the card's min_increment_seconds once, here, and nowhere else
-- (kernels.billing.billable_seconds is the same rule for the Python recomputation). Money is not
-- rounded here: amounts are exact NUMERIC; invoices round per line item (kernels.billing.round_money).
-- Because pieces never straddle a local midnight, a customer's local month is an exact sum of days.
with

sessions as (
    select * from {{ ref('int_workload_sessions_built') }}
),

devices as (
    select * from {{ ref('stg_raw__devices') }}
),

customers as (
    select * from {{ ref('stg_raw__customers') }}
),

rate_cards as (
    select * from {{ ref('stg_raw__rate_cards') }}
),

metered as (
    select * from {{ ref('int_workload_usage_metered') }}
),

-- cards in force over time per customer and product: own cards from the first own card on,
-- list cards before it
first_own_cards as (
    select
        customer_id,
        gpu_model,
        workload_type,
        min(effective_at) as first_own_at
    from rate_cards
    where customer_id is not null
    group by customer_id, gpu_model, workload_type
),

placed as (
    select
        sessions.session_id,
        sessions.workload_id,
        sessions.device_id,
        sessions.customer_id,
        sessions.workload_type,
        coalesce(sessions.gpu_pool, devices.gpu_pool) as gpu_pool,
        devices.hardware_model as gpu_model,
        coalesce(customers.timezone, 'UTC') as timezone,
        sessions.started_at,
        sessions.ended_at
    from sessions
    inner join devices on sessions.device_id = devices.device_id
    left join customers on sessions.customer_id = customers.customer_id
    where sessions.ended_at > sessions.started_at
),

windows as (
    select
        placed.session_id,
        rate_cards.rate_card_id,
        rate_cards.effective_at,
        rate_cards.price_usd_per_gpu_hour,
        rate_cards.min_increment_seconds
    from placed
    inner join rate_cards
        on
            placed.gpu_model = rate_cards.gpu_model
            and placed.workload_type = rate_cards.workload_type
    left join first_own_cards
        on
            placed.customer_id = first_own_cards.customer_id
            and placed.gpu_model = first_own_cards.gpu_model
            and placed.workload_type = first_own_cards.workload_type
    where
        rate_cards.customer_id = placed.customer_id
        or (
            rate_cards.customer_id is null
            and (first_own_cards.first_own_at is null or rate_cards.effective_at < first_own_cards.first_own_at)
        )
),

cuts as (
    select
        session_id,
        started_at as cut_at
    from placed
    union
    select
        placed.session_id,
        (local_days.local_day at time zone placed.timezone) as cut_at
    from placed
    cross join
        lateral generate_series(
            date_trunc('day', placed.started_at at time zone placed.timezone) + interval '1 day',
            placed.ended_at at time zone placed.timezone,
            interval '1 day'
        ) as local_days (local_day)
    where
        (local_days.local_day at time zone placed.timezone) > placed.started_at
        and (local_days.local_day at time zone placed.timezone) < placed.ended_at
    union
    select
        windows.session_id,
        windows.effective_at as cut_at
    from windows
    inner join placed on windows.session_id = placed.session_id
    where windows.effective_at > placed.started_at and windows.effective_at < placed.ended_at
),

pieces as (
    select
        placed.*,
        cuts.cut_at as piece_start_at,
        coalesce(
            lead(cuts.cut_at) over (partition by cuts.session_id order by cuts.cut_at), placed.ended_at
        ) as piece_end_at
    from cuts
    inner join placed on cuts.session_id = placed.session_id
),

priced as (
    select
        pieces.*,
        card.rate_card_id,
        card.effective_at as rate_card_effective_at,
        card.price_usd_per_gpu_hour,
        card.min_increment_seconds
    from pieces
    left join lateral (
        select windows.*
        from windows
        where windows.session_id = pieces.session_id and windows.effective_at <= pieces.piece_start_at
        order by windows.effective_at desc, windows.rate_card_id desc
        limit 1
    ) as card on true
),

-- measured telemetry of the hourly metered pieces, attributed to the billable piece they start in
measured as (
    select
        priced.session_id,
        priced.piece_start_at,
        sum(metered.measured_gpu_seconds) as measured_gpu_seconds,
        sum(metered.avg_gpu_util_pct * metered.gpu_seconds) as util_weighted_seconds,
        sum(metered.gpu_seconds) filter (where metered.avg_gpu_util_pct is not null) as util_seconds
    from priced
    inner join metered
        on
            priced.session_id = metered.session_id
            and priced.piece_start_at <= metered.piece_start_at
            and priced.piece_end_at > metered.piece_start_at
    group by priced.session_id, priced.piece_start_at
),

final as (
    select
        md5(concat_ws(
            '|', priced.usage_date, priced.customer_id, priced.workload_id, priced.gpu_pool, priced.gpu_model,
            priced.rate_card_id, extract(epoch from priced.rate_card_effective_at)::bigint
        )) as usage_id,
        md5(priced.session_id || '|' || extract(epoch from priced.piece_start_at)::bigint::text) as billable_piece_id,
        priced.session_id,
        priced.workload_id,
        priced.device_id,
        priced.customer_id,
        priced.timezone,
        priced.usage_date,
        priced.workload_type,
        priced.gpu_pool,
        priced.gpu_model,
        priced.piece_start_at,
        priced.piece_end_at,
        priced.gpu_seconds,
        -- the metering rule, applied once per piece: round the piece's seconds up to the increment
        (
            ceil(priced.gpu_seconds::numeric / coalesce(priced.min_increment_seconds, 1))
            * coalesce(priced.min_increment_seconds, 1)
        )::bigint
            as billable_gpu_seconds,
        coalesce(measured.measured_gpu_seconds, 0)::bigint as measured_gpu_seconds,
        measured.util_weighted_seconds,
        measured.util_seconds,
        priced.rate_card_id,
        priced.rate_card_effective_at,
        priced.price_usd_per_gpu_hour,
        priced.min_increment_seconds
    from (
        select
            *,
            (piece_start_at at time zone timezone)::date as usage_date,
            extract(epoch from piece_end_at - piece_start_at)::bigint as gpu_seconds
        from priced
    ) as priced
    left join measured
        on priced.session_id = measured.session_id and priced.piece_start_at = measured.piece_start_at
    where priced.piece_end_at > priced.piece_start_at
)

select * from final
