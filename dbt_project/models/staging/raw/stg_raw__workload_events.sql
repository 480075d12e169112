with

source as (
    {{ latest_load(source('raw', 'workload_events'), ['event_id']) }}
),

renamed as (
    select
        event_id,
        workload_id,
        customer_id,
        event_type,
        event_at,
        workload_type,
        nullif(gpu_pool, '') as gpu_pool,
        gpus_requested,
        device_ids,
        load_id
    from source
)

select * from renamed
