with

source as (
    {{ latest_load(source('fleet', 'fleet_status'), ['device_id', 'ts']) }}
),

renamed as (
    select
        device_id,
        ts as polled_at,
        source as machine_source,
        address,
        state,
        power_kw::float8 as power_kw,
        fans_rpm,
        errors,
        pool,
        detail,
        coalesce(controls, '{}') as controls,
        power_target_kw::float8 as power_target_kw,
        load_id
    from source
)

select * from renamed
