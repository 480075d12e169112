-- Every device as of the fleet's latest hour in fct_device_hourly: the status and utilization the
-- ops pages list and filter on. A device without a row in that hour is offline.
with

devices as (
    select * from {{ ref('dim_devices') }}
),

device_hours as (
    select * from {{ ref('fct_device_hourly') }}
),

latest as (
    select max(hour_start_at) as hour_start_at from device_hours
),

final as (
    select
        devices.device_id,
        devices.facility_id,
        latest.hour_start_at as as_of_hour_start_at,
        coalesce(device_hours.device_status, 'offline') as device_status,
        device_hours.utilization_pct,
        device_hours.uptime_pct,
        device_hours.avg_power_kw,
        device_hours.avg_temperature_c,
        device_hours.inference_gpu_seconds
    from devices
    cross join latest
    left join device_hours
        on
            devices.device_id = device_hours.device_id
            and latest.hour_start_at = device_hours.hour_start_at
)

select * from final
