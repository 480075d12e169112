-- Usage conservation: billable GPU-seconds before rounding equal the sessions' GPU-seconds, per workload.
with

sessions as (
    select
        workload_id,
        sum(gpu_seconds) as session_gpu_seconds
    from {{ ref('int_workload_sessions_built') }}
    group by workload_id
),

usage as (
    select
        workload_id,
        sum(gpu_seconds) as usage_gpu_seconds
    from {{ ref('fct_usage') }}
    group by workload_id
)

select
    coalesce(sessions.workload_id, usage.workload_id) as workload_id,
    sessions.session_gpu_seconds,
    usage.usage_gpu_seconds
from sessions
full outer join usage on sessions.workload_id = usage.workload_id
where coalesce(sessions.session_gpu_seconds, 0) <> coalesce(usage.usage_gpu_seconds, 0)
