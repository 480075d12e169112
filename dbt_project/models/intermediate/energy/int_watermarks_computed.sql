-- The data watermark: the newest telemetry or workload event time; hourly spines end here.
-- Sessions still running are cut at events_end_at, the newest workload event: what a customer is
-- billed for rests on its workload events alone, never on how far another feed reaches (the rule
-- of billing.usage, which the reconciliation recomputes from raw events).
with

workload_events as (
    select * from {{ ref('stg_raw__workload_events') }}
),

-- the newest sample sits in the newest interval: min, max and the newest interval's rows are index
-- lookups on interval_start_at. The table is named in each CTE (one CTE read twice is materialized,
-- all its rows), and "= newest" (the same rows as ">= newest") gives the planner an estimate it uses
-- the index for.
interval_range as (
    select
        min(interval_start_at) as oldest_interval_start_at,
        max(interval_start_at) as newest_interval_start_at
    from {{ ref('int_device_intervals_aligned') }}
),

telemetry_bounds as (
    select
        min(interval_range.oldest_interval_start_at) as telemetry_start_at,
        max(device_intervals.last_measured_at) as telemetry_end_at
    from {{ ref('int_device_intervals_aligned') }} as device_intervals
    inner join interval_range on device_intervals.interval_start_at = interval_range.newest_interval_start_at
),

event_bounds as (
    select
        min(event_at) as events_start_at,
        max(event_at) as events_end_at
    from workload_events
),

final as (
    select
        1 as watermark_id,
        least(telemetry_bounds.telemetry_start_at, event_bounds.events_start_at) as data_start_at,
        greatest(telemetry_bounds.telemetry_end_at, event_bounds.events_end_at) as watermark_at,
        event_bounds.events_end_at
    from telemetry_bounds
    cross join event_bounds
)

select * from final
