with

source as (
    {{ latest_load(source('raw', 'device_telemetry'), ['ts', 'device_id']) }}  -- index order of raw.device_telemetry
),

renamed as (
    select
        device_id,
        ts as measured_at,
        power_kw::numeric(12, 4) as power_kw,
        hashrate_ths::numeric(12, 4) as hashrate_ths,
        gpu_util_pct::double precision as gpu_util_pct,
        temperature_c::double precision as temperature_c,
        load_id
    from source
)

select * from renamed
