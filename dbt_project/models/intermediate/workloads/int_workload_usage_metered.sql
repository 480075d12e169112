{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        window_column='hour_start_at',
        indexes=[{'columns': ['hour_start_at']}],
    )
}}
-- GPU usage measured per session, device and UTC hour: GPU-seconds the device ran the workload,
-- the device's measured utilization and uptime over those seconds, and the rate card in force
-- (the customer's own card, else the list card for the GPU model and workload type, effective at
-- the start of the piece) with its exact, unrounded revenue.
{%- set window = incremental_window('hour_start_at') %}
{%- set minutes = var('telemetry_interval_minutes') %}

with

sessions as (
    select * from {{ ref('int_workload_sessions_built') }}
    where ended_at > {{ window.start }} and started_at < {{ window.end }}
),

devices as (
    select * from {{ ref('stg_raw__devices') }}
),

rate_cards as (
    select * from {{ ref('stg_raw__rate_cards') }}
),

device_intervals as (
    select * from {{ ref('int_device_intervals_aligned') }}
    where
        interval_start_at >= {{ window.start }} - interval '{{ minutes }} minutes'
        and interval_start_at < {{ window.end }}
),

pieces as (
    select
        sessions.session_id,
        sessions.workload_id,
        sessions.device_id,
        sessions.customer_id,
        sessions.workload_type,
        coalesce(sessions.gpu_pool, devices.gpu_pool) as gpu_pool,
        devices.hardware_model as gpu_model,
        hours.hour_start_at,
        greatest(sessions.started_at, hours.hour_start_at) as piece_start_at,
        least(sessions.ended_at, hours.hour_start_at + interval '1 hour') as piece_end_at
    from sessions
    inner join devices on sessions.device_id = devices.device_id
    cross join
        lateral generate_series(
            date_trunc('hour', greatest(sessions.started_at, {{ window.start }}), 'UTC'),
            sessions.ended_at - interval '1 second',
            interval '1 hour'
        ) as hours (hour_start_at)
    where hours.hour_start_at < {{ window.end }}
),

measured as (
    select
        pieces.session_id,
        pieces.hour_start_at,
        avg(device_intervals.gpu_util_pct) as avg_gpu_util_pct,
        sum(
            extract(
                epoch from
                least(pieces.piece_end_at, device_intervals.interval_start_at + interval '{{ minutes }} minutes')
                - greatest(pieces.piece_start_at, device_intervals.interval_start_at)
            )
        ) filter (where device_intervals.is_up) as measured_gpu_seconds
    from pieces
    inner join device_intervals
        on
            pieces.device_id = device_intervals.device_id
            and pieces.piece_end_at > device_intervals.interval_start_at
            and device_intervals.interval_start_at + interval '{{ minutes }} minutes' > pieces.piece_start_at
            -- the same bound again, on the bare column, so the index bounds the scan from below too
            and device_intervals.interval_start_at > pieces.piece_start_at - interval '{{ minutes }} minutes'
    group by pieces.session_id, pieces.hour_start_at
),

-- The card in force at the start of each piece: the customer's own card, else the list card for the
-- GPU model and workload type, latest effective first (then the highest id). Candidates come from
-- two equality joins and one sort, not a lookup per piece into the rate-card view, which sorted all
-- cards again for every piece.
card_candidates as (
    {{ product_rate_cards('pieces', ['session_id', 'hour_start_at'], '<= pieces.piece_start_at') }}
),

cards_in_force as (
    select distinct on (session_id, hour_start_at) *
    from card_candidates
    order by session_id asc, hour_start_at asc, is_own desc, effective_at desc, rate_card_id desc
),

priced as (
    select
        pieces.*,
        cards_in_force.rate_card_id,
        cards_in_force.effective_at as rate_card_effective_at,
        cards_in_force.price_usd_per_gpu_hour,
        cards_in_force.min_increment_seconds
    from pieces
    left join cards_in_force
        on pieces.session_id = cards_in_force.session_id and pieces.hour_start_at = cards_in_force.hour_start_at
),

final as (
    select
        md5(priced.session_id || '|' || extract(epoch from priced.hour_start_at)::bigint::text) as usage_piece_id,
        priced.session_id,
        priced.workload_id,
        priced.device_id,
        priced.customer_id,
        priced.workload_type,
        priced.gpu_pool,
        priced.gpu_model,
        priced.hour_start_at,
        priced.piece_start_at,
        priced.piece_end_at,
        extract(epoch from priced.piece_end_at - priced.piece_start_at)::bigint as gpu_seconds,
        coalesce(measured.measured_gpu_seconds, 0)::bigint as measured_gpu_seconds,
        measured.avg_gpu_util_pct,
        priced.rate_card_id,
        priced.rate_card_effective_at,
        priced.price_usd_per_gpu_hour,
        priced.min_increment_seconds,
        extract(epoch from priced.piece_end_at - priced.piece_start_at)
        * priced.price_usd_per_gpu_hour / 3600 as revenue_usd
    from priced
    left join measured
        on priced.session_id = measured.session_id and priced.hour_start_at = measured.hour_start_at
    where priced.piece_end_at > priced.piece_start_at
)

select * from final
