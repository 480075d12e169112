-- One row per facility and UTC hour of data, with the facility's local time: local days have 23
-- or 25 hours on DST days, and the repeated fall-back hour appears twice with distinct UTC starts.
with

facilities as (
    select * from {{ ref('stg_raw__facilities') }}
),

watermarks as (
    select * from {{ ref('int_watermarks_computed') }}
),

hours as (
    select spine.hour_start_at
    from watermarks
    cross join
        lateral
        generate_series(
            date_trunc('hour', watermarks.data_start_at, 'UTC'),
            watermarks.watermark_at,
            interval '1 hour'
        ) as spine (hour_start_at)
),

localized as (
    select
        facilities.facility_id,
        facilities.timezone,
        hours.hour_start_at,
        hours.hour_start_at at time zone facilities.timezone as hour_start_local
    from facilities
    cross join hours
),

final as (
    select
        facility_id,
        hour_start_at,
        hour_start_local,
        hour_start_local::date as local_date,
        extract(hour from hour_start_local)::integer as local_hour,
        count(*) over (partition by facility_id, hour_start_local::date) as hours_in_local_day
    from localized
)

select * from final
