with

source as (
    {{ latest_load(source('raw', 'devices'), ['device_id']) }}
),

renamed as (
    select
        device_id,
        facility_id,
        kind as device_kind,
        model as hardware_model,
        nullif(gpu_pool, '') as gpu_pool,
        nominal_power_kw::numeric(10, 4) as nominal_power_kw,
        nominal_hashrate_ths::numeric(10, 3) as nominal_hashrate_ths,
        rack,
        rack_row,
        rack_slot,
        load_id
    from source
)

select * from renamed
