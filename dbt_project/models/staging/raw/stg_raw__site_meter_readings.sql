with

source as (
    {{ latest_load(source('raw', 'site_meter'), ['facility_id', 'ts']) }}
),

renamed as (
    select
        facility_id,
        ts as measured_at,
        power_kw::numeric(14, 3) as power_kw,
        load_id
    from source
)

select * from renamed
