-- Energy balance: the devices' kWh x configured PUE agree with the site meter's kWh within
-- var('energy_balance_tolerance') (2 %) per facility and UTC day, on hours the meter reported.
with

facility_hourly as (
    select * from {{ ref('fct_facility_hourly') }}
    where site_meter_mwh is not null
),

daily as (
    select
        facility_id,
        (hour_start_at at time zone 'UTC')::date as activity_date,
        sum(energy_mwh) as device_energy_mwh,
        sum(site_meter_mwh) as site_meter_mwh
    from facility_hourly
    group by 1, 2
)

select *
from daily
where abs(device_energy_mwh - site_meter_mwh) > {{ var('energy_balance_tolerance') }} * site_meter_mwh
