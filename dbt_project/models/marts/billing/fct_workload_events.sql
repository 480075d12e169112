-- Workload lifecycle events (redelivered events collapsed in staging), for the Workloads page's
-- lifecycle table: what happened to a workload and when, before it is ever invoiced.
with

events as (
    select * from {{ ref('stg_raw__workload_events') }}
),

final as (
    select
        event_id,
        workload_id,
        customer_id,
        event_type,
        event_at,
        workload_type,
        gpu_pool,
        gpus_requested,
        coalesce(cardinality(device_ids), 0)::integer as device_count
    from events
)

select * from final
