-- A warning, not an error: on streaming data a day is often half delivered (the soaks failed
-- automation runs on it), and the Great Expectations energy-balance check guards the marts too.
{{ config(severity='warn') }}
-- Energy balance: the devices' kWh x configured PUE agree with the site meter's kWh within
-- var('energy_balance_tolerance') (2 %) per facility and UTC day, on hours the meter reported and
-- the devices' telemetry has reached: files arrive one at a time, and a meter file that lands
-- before the same day's telemetry is a day half delivered, not an imbalance. The newest telemetry
-- hour may itself be partial, so the balance stops before it.
with

facility_hourly as (
    select * from {{ ref('fct_facility_hourly') }}
    where site_meter_mwh is not null
),

telemetry_reach as (
    select
        facility_id,
        max(hour_start_at) as newest_hour_start_at
    from {{ ref('fct_facility_hourly') }}
    where it_energy_mwh > 0
    group by 1
),

daily as (
    select
        facility_hourly.facility_id,
        (facility_hourly.hour_start_at at time zone 'UTC')::date as activity_date,
        sum(facility_hourly.energy_mwh) as device_energy_mwh,
        sum(facility_hourly.site_meter_mwh) as site_meter_mwh
    from facility_hourly
    inner join telemetry_reach
        on
            facility_hourly.facility_id = telemetry_reach.facility_id
            and facility_hourly.hour_start_at < telemetry_reach.newest_hour_start_at
    group by 1, 2
)

select *
from daily
where abs(device_energy_mwh - site_meter_mwh) > {{ var('energy_balance_tolerance') }} * site_meter_mwh
