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

-- the rate-card versions of a session's product that take effect before it ends: the customer's own
-- cards and the list cards
product_cards as (
    {{ product_rate_cards('placed', ['session_id', 'started_at', 'ended_at'], '< placed.ended_at') }}
),

-- the cards in force over time: the customer's own cards from its first own card on, the list
-- cards before it (an own card effective after the session ends changes nothing inside it)
session_cards as (
    select *
    from (
        select
            *,
            min(effective_at) filter (where is_own) over (partition by session_id) as first_own_at
        from product_cards
    ) as cards
    where is_own or first_own_at is null or effective_at < first_own_at
),

-- where a session is cut: its start, each customer-local midnight inside it (a series over its own
-- days only), and the time each card takes effect inside it (a card effective before the start
-- counts at the start). Card cuts carry their card.
cuts as (
    select
        session_id,
        ended_at,
        started_at as cut_at,
        null::text as rate_card_id,
        null::timestamptz as rate_card_effective_at,
        null::numeric(12, 6) as price_usd_per_gpu_hour,
        null::integer as min_increment_seconds
    from placed
    union all
    select
        placed.session_id,
        placed.ended_at,
        (local_days.local_day at time zone placed.timezone) as cut_at,
        null::text as rate_card_id,
        null::timestamptz as rate_card_effective_at,
        null::numeric(12, 6) as price_usd_per_gpu_hour,
        null::integer as min_increment_seconds
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
    union all
    select
        session_id,
        ended_at,
        greatest(effective_at, started_at) as cut_at,
        rate_card_id,
        effective_at as rate_card_effective_at,
        price_usd_per_gpu_hour,
        min_increment_seconds
    from session_cards
),

-- one row per session and cut time; where cards take effect, the latest effective one wins (then
-- the highest id)
distinct_cuts as (
    select distinct on (session_id, cut_at) *
    from cuts
    order by session_id asc, cut_at asc, rate_card_effective_at desc nulls last, rate_card_id desc
),

-- pieces run from a cut to the next (the last to the session's end); card_run numbers the card
-- cuts so far, so a piece's card is the one at the start of its run
pieces as (
    select
        *,
        coalesce(lead(cut_at) over session_order, ended_at) as piece_end_at,
        count(rate_card_id) over session_order as card_run
    from distinct_cuts
    window session_order as (partition by session_id order by cut_at)
),

-- The card in force is found by window functions over each session's own pieces. A lookup per piece
-- into the cards of all sessions (a CTE has no index) compared every piece with every session's
-- cards: quadratic (16 s at 3,000 workloads, over 15 minutes at 30,000).
priced as (
    select
        placed.*,
        pieces.cut_at as piece_start_at,
        pieces.piece_end_at,
        first_value(pieces.rate_card_id) over card_run as rate_card_id,
        first_value(pieces.rate_card_effective_at) over card_run as rate_card_effective_at,
        first_value(pieces.price_usd_per_gpu_hour) over card_run as price_usd_per_gpu_hour,
        first_value(pieces.min_increment_seconds) over card_run as min_increment_seconds
    from pieces
    inner join placed on pieces.session_id = placed.session_id
    window card_run as (partition by pieces.session_id, pieces.card_run order by pieces.cut_at)
),

-- measured telemetry of the hourly metered pieces, attributed to the billable piece they start in:
-- the billable pieces' starts (and each session's end) and the metered pieces in one stream per
-- session ordered by time, where a metered piece takes the latest bound at or before it (a window,
-- not a range join). A metered piece at or after the session's end takes the end, which no billable
-- piece starts at, so it is dropped as a range join would drop it. row_kind: 0 a bound, 1 a metered
-- piece (bounds first at the same time).
metered_bounds as (
    select
        session_id,
        piece_start_at as bound_at,
        0 as row_kind,
        null::bigint as measured_gpu_seconds,
        null::double precision as avg_gpu_util_pct,
        null::bigint as gpu_seconds
    from priced
    union all
    select
        session_id,
        ended_at as bound_at,
        0 as row_kind,
        null::bigint as measured_gpu_seconds,
        null::double precision as avg_gpu_util_pct,
        null::bigint as gpu_seconds
    from placed
    union all
    select
        session_id,
        piece_start_at as bound_at,
        1 as row_kind,
        measured_gpu_seconds,
        avg_gpu_util_pct,
        gpu_seconds
    from metered
),

metered_attributed as (
    select
        *,
        max(bound_at) filter (where row_kind = 0) over (
            partition by session_id order by bound_at, row_kind rows unbounded preceding
        ) as piece_start_at
    from metered_bounds
),

measured as (
    select
        session_id,
        piece_start_at,
        sum(measured_gpu_seconds) as measured_gpu_seconds,
        sum(avg_gpu_util_pct * gpu_seconds) as util_weighted_seconds,
        sum(gpu_seconds) filter (where avg_gpu_util_pct is not null) as util_seconds
    from metered_attributed
    where row_kind = 1
    group by session_id, piece_start_at
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
