-- Running sessions of workloads, one row per workload, device and running span: a span opens on
-- started/resumed and closes on paused/completed/cancelled/failed, to the second. Events are
-- ordered by time (not arrival), redelivered events collapse on event_id (staging), repeated
-- opens or closes are ignored, events after the first terminal event are ignored, and a span
-- still open at the end of data is cut at the newest workload event (events_end_at of the
-- watermarks; not at newer telemetry).
--
-- Cost is linear in events (a few sorts by workload): a workload's attributes, terminal time and
-- first placement are window aggregates carried on each of its events, never a join between
-- aggregated CTEs. Such CTEs get default row estimates (200 workloads, 1 span), and the planner
-- then chose a nested loop comparing every span with every workload (quadratic: 74 s at 30,000
-- workloads).
with

workload_events as (
    select * from {{ ref('stg_raw__workload_events') }}
),

watermarks as (
    select * from {{ ref('int_watermarks_computed') }}
),

events_flagged as (
    select
        *,
        coalesce(event_type in ('started', 'resumed') and cardinality(device_ids) > 0, false) as is_placement
    from workload_events
),

events_described as (
    select
        workload_id,
        event_id,
        event_type,
        event_at,
        device_ids,
        max(customer_id) over whole_workload as workload_customer_id,
        max(workload_type) over whole_workload as workload_type,
        max(gpu_pool) over whole_workload as workload_gpu_pool,
        max(gpus_requested) over whole_workload as workload_gpus_requested,
        min(event_at) filter (where event_type in ('completed', 'cancelled', 'failed')) over whole_workload
            as terminal_at,
        -- the devices of the workload's first placement (by time, then event id), for spans whose
        -- opening event names none
        first_value(case when is_placement then device_ids end) over placement_order as first_device_ids
    from events_flagged
    window
        whole_workload as (partition by workload_id),
        placement_order as (
            partition by workload_id order by is_placement desc, event_at asc, event_id asc
            rows between unbounded preceding and unbounded following
        )
),

transitions as (
    select
        workload_id,
        event_id,
        event_type,
        date_trunc('second', event_at) as event_at,
        device_ids,
        first_device_ids,
        workload_customer_id,
        workload_type,
        workload_gpu_pool,
        workload_gpus_requested,
        case when event_type in ('started', 'resumed') then 'open' else 'close' end as transition,
        case event_type
            when 'started' then 1 when 'paused' then 2 when 'resumed' then 3 else 4
        end as same_second_rank
    from events_described
    where
        event_type <> 'submitted'
        and (terminal_at is null or event_at <= terminal_at)
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
        first_device_ids,
        workload_customer_id,
        workload_type,
        workload_gpu_pool,
        workload_gpus_requested,
        transition,
        lead(event_at) over workload_order as closed_at,
        lead(event_type) over workload_order as close_event_type
    from effective
    window workload_order as (partition by workload_id order by event_at, same_second_rank, event_id)
),

devices_placed as (
    select
        spans.*,
        placed.device_id
    from spans
    cross join
        lateral unnest(
            case when cardinality(spans.device_ids) > 0 then spans.device_ids else spans.first_device_ids end
        ) as placed (device_id)
    where spans.transition = 'open'
),

final as (
    select
        md5(devices_placed.workload_id || '|' || devices_placed.device_id || '|' || devices_placed.open_event_id)
            as session_id,
        devices_placed.workload_id,
        devices_placed.device_id,
        devices_placed.workload_customer_id as customer_id,
        devices_placed.workload_type,
        devices_placed.workload_gpu_pool as gpu_pool,
        devices_placed.workload_gpus_requested as gpus_requested,
        devices_placed.started_at,
        coalesce(devices_placed.closed_at, date_trunc('second', watermarks.events_end_at)) as ended_at,
        coalesce(devices_placed.close_event_type, 'watermark') as end_reason,
        devices_placed.closed_at is null as is_open,
        extract(
            epoch from coalesce(devices_placed.closed_at, date_trunc('second', watermarks.events_end_at))
            - devices_placed.started_at
        )::bigint as gpu_seconds
    from devices_placed
    cross join watermarks
)

select * from final
