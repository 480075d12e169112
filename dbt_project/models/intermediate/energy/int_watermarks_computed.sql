-- The data watermark: the newest telemetry or workload event time. Sessions still running are cut
-- here, and hourly spines end here.
with

device_intervals as (
    select * from {{ ref('int_device_intervals_aligned') }}
),

workload_events as (
    select * from {{ ref('stg_raw__workload_events') }}
),

bounds as (
    select
        (select min(interval_start_at) from device_intervals) as telemetry_start_at,
        (select max(last_measured_at) from device_intervals) as telemetry_end_at,
        (select min(event_at) from workload_events) as events_start_at,
        (select max(event_at) from workload_events) as events_end_at
),

final as (
    select
        1 as watermark_id,
        least(telemetry_start_at, events_start_at) as data_start_at,
        greatest(telemetry_end_at, events_end_at) as watermark_at
    from bounds
)

select * from final
