-- Executive KPIs per UTC day over all facilities.
with

facility_hourly as (
    select * from {{ ref('fct_facility_hourly') }}
),

daily as (
    select
        (hour_start_at at time zone 'UTC')::date as activity_date,
        sum(total_revenue_usd) as total_revenue_usd,
        sum(mining_revenue_usd) as mining_revenue_usd,
        sum(inference_revenue_usd) as inference_revenue_usd,
        sum(demand_response_credit_usd) as demand_response_credit_usd,
        sum(energy_cost_usd) as energy_cost_usd,
        sum(energy_mwh) as energy_mwh,
        sum(gpu_utilization_pct * gpu_count) / nullif(sum(gpu_count), 0) as gpu_utilization_pct,
        sum(asic_uptime_pct * asic_count) / nullif(sum(asic_count), 0) as asic_uptime_pct,
        sum(curtailed_mwh) as curtailed_mwh,
        sum(avoided_energy_cost_usd) as avoided_energy_cost_usd
    from facility_hourly
    group by 1
),

final as (
    select
        activity_date,
        total_revenue_usd::numeric(18, 6) as total_revenue_usd,
        mining_revenue_usd::numeric(18, 6) as mining_revenue_usd,
        inference_revenue_usd::numeric(18, 6) as inference_revenue_usd,
        demand_response_credit_usd::numeric(18, 6) as demand_response_credit_usd,
        energy_cost_usd::numeric(18, 6) as energy_cost_usd,
        (total_revenue_usd - energy_cost_usd)::numeric(18, 6) as gross_margin_usd,
        ((total_revenue_usd - energy_cost_usd) / nullif(total_revenue_usd, 0) * 100)::numeric(9, 3)
            as gross_margin_pct,
        energy_mwh::numeric(18, 6) as energy_mwh,
        gpu_utilization_pct::double precision as gpu_utilization_pct,
        asic_uptime_pct::numeric(7, 3) as asic_uptime_pct,
        curtailed_mwh::numeric(18, 6) as curtailed_mwh,
        avoided_energy_cost_usd::numeric(18, 6) as avoided_energy_cost_usd
    from daily
)

select * from final
