with

facilities as (
    select * from {{ ref('stg_raw__facilities') }}
),

devices as (
    select * from {{ ref('stg_raw__devices') }}
),

device_counts as (
    select
        facility_id,
        count(*) filter (where device_kind = 'asic') as asic_count,
        count(*) filter (where device_kind = 'gpu') as gpu_count,
        sum(nominal_power_kw) as nominal_it_power_kw
    from devices
    group by facility_id
),

final as (
    select
        facilities.facility_id,
        facilities.facility_name,
        facilities.market,
        facilities.price_node_name,
        facilities.timezone,
        facilities.power_cap_kw,
        facilities.pue,
        coalesce(device_counts.asic_count, 0)::integer as asic_count,
        coalesce(device_counts.gpu_count, 0)::integer as gpu_count,
        coalesce(device_counts.nominal_it_power_kw, 0)::numeric(14, 3) as nominal_it_power_kw
    from facilities
    left join device_counts on facilities.facility_id = device_counts.facility_id
)

select * from final
