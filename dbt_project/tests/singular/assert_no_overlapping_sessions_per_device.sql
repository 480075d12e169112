-- A GPU runs one workload session at a time: no two sessions of a device overlap.
with

sessions as (
    select * from {{ ref('int_workload_sessions_built') }}
),

sequenced as (
    select
        device_id,
        session_id,
        workload_id,
        started_at,
        ended_at,
        max(ended_at) over (
            partition by device_id order by started_at, session_id
            rows between unbounded preceding and 1 preceding
        ) as previous_ended_at
    from sessions
)

select *
from sequenced
where previous_ended_at > started_at
