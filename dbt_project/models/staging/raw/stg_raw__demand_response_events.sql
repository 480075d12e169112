with

source as (
    {{ latest_load(source('raw', 'demand_response_events'), ['event_id']) }}
),

renamed as (
    select
        event_id as demand_response_event_id,
        facility_id,
        start_at as started_at,
        end_at as ended_at,
        curtail_kw::numeric(14, 3) as curtail_kw,
        credit_usd_per_mwh::numeric(12, 4) as credit_usd_per_mwh,
        load_id
    from source
)

select * from renamed
