-- Running sessions of workloads, one row per workload, device and running span: a span opens on
-- started/resumed and closes on paused/completed/cancelled/failed, to the second. Events are
-- ordered by time (not arrival), redelivered events collapse on event_id (staging), repeated
-- opens or closes are ignored, events after the first terminal event are ignored, and a span
-- still open at the end of data is cut at the watermark.
with

workload_events as (
    select * from {{ ref('stg_raw__workload_events') }}
),

watermarks as (
    select * from {{ ref('int_watermarks_computed') }}
),

workloads as (
    select
        workload_id,
        max(customer_id) as customer_id,
        max(workload_type) as workload_type,
        max(gpu_pool) as gpu_pool,
        max(gpus_requested) as gpus_requested,
        min(event_at) filter (where event_type in ('completed', 'cancelled', 'failed')) as terminal_at
    from workload_events
    group by workload_id
),

first_placements as (
    select distinct on (workload_id)
        workload_id,
        device_ids
    from workload_events
    where event_type in ('started', 'resumed') and cardinality(device_ids) > 0
    order by workload_id asc, event_at asc, event_id asc
),

transitions as (
    select
        workload_events.workload_id,
        workload_events.event_id,
        workload_events.event_type,
        date_trunc('second', workload_events.event_at) as event_at,
        workload_events.device_ids,
        case when workload_events.event_type in ('started', 'resumed') then 'open' else 'close' end as transition,
        case workload_events.event_type
            when 'started' then 1 when 'paused' then 2 when 'resumed' then 3 else 4
        end as same_second_rank
    from workload_events
    inner join workloads on workload_events.workload_id = workloads.workload_id
    where
        workload_events.event_type <> 'submitted'
        and (workloads.terminal_at is null or workload_events.event_at <= workloads.terminal_at)
),

sequenced as (
    select
        *,
        lag(transition) over workload_order as previous_transition
    from transitions
    window workload_order as (partition by workload_id order by event_at, same_second_rank, event_id)
),

effective as (
    select *
    from sequenced
    where
        (transition = 'open' and previous_transition is distinct from 'open')
        or (transition = 'close' and previous_transition = 'open')
),

spans as (
    select
        workload_id,
        event_id as open_event_id,
        event_at as started_at,
        device_ids,
        transition,
        lead(event_at) over workload_order as closed_at,
        lead(event_type) over workload_order as close_event_type
    from effective
    window workload_order as (partition by workload_id order by event_at, same_second_rank, event_id)
),

devices_placed as (
    select
        spans.workload_id,
        spans.open_event_id,
        spans.started_at,
        spans.closed_at,
        spans.close_event_type,
        placed.device_id
    from spans
    left join first_placements on spans.workload_id = first_placements.workload_id
    cross join
        lateral unnest(
            case when cardinality(spans.device_ids) > 0 then spans.device_ids else first_placements.device_ids end
        ) as placed (device_id)
    where spans.transition = 'open'
),

final as (
    select
        md5(devices_placed.workload_id || '|' || devices_placed.device_id || '|' || devices_placed.open_event_id)
            as session_id,
        devices_placed.workload_id,
        devices_placed.device_id,
        workloads.customer_id,
        workloads.workload_type,
        workloads.gpu_pool,
        workloads.gpus_requested,
        devices_placed.started_at,
        coalesce(devices_placed.closed_at, date_trunc('second', watermarks.watermark_at)) as ended_at,
        coalesce(devices_placed.close_event_type, 'watermark') as end_reason,
        devices_placed.closed_at is null as is_open,
        extract(
            epoch from coalesce(devices_placed.closed_at, date_trunc('second', watermarks.watermark_at))
            - devices_placed.started_at
        )::bigint as gpu_seconds
    from devices_placed
    inner join workloads on devices_placed.workload_id = workloads.workload_id
    cross join watermarks
)

select * from final
