-- Running sessions of customer workloads, one row per workload, device and running span (the API's
-- workloads and sessions resources read this mart). The session rules live once, in
-- int_workload_sessions_built; this mart only exposes them, indexed for the API's per-customer,
-- time-ordered pages.
{{
    config(
        indexes=[
            {'columns': ['customer_id', 'started_at', 'session_id']},
            {'columns': ['started_at', 'session_id']},
            {'columns': ['workload_id']},
        ]
    )
}}
with

sessions as (
    select * from {{ ref('int_workload_sessions_built') }}
),

final as (
    select
        session_id,
        workload_id,
        device_id,
        customer_id,
        workload_type,
        gpu_pool,
        gpus_requested,
        started_at,
        ended_at,
        end_reason,
        is_open,
        gpu_seconds
    from sessions
)

select * from final
