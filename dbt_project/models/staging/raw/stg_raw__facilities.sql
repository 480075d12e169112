with

source as (
    {{ latest_load(source('raw', 'facilities'), ['facility_id']) }}
),

renamed as (
    select
        facility_id,
        name as facility_name,
        market,
        price_node as price_node_name,
        timezone,
        power_cap_kw::numeric(14, 3) as power_cap_kw,
        pue::numeric(6, 4) as pue,
        load_id
    from source
)

select * from renamed
