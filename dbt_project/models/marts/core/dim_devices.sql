with

devices as (
    select * from {{ ref('stg_raw__devices') }}
),

final as (
    select
        device_id,
        facility_id,
        device_kind,
        hardware_model,
        gpu_pool,
        nominal_power_kw,
        nominal_hashrate_ths,
        case
            when device_kind = 'asic' and nominal_hashrate_ths > 0
                then (nominal_power_kw * 1000 / nominal_hashrate_ths)::numeric(10, 3)
        end as nominal_efficiency_j_per_th,
        rack,
        rack_row,
        rack_slot
    from devices
)

select * from final
