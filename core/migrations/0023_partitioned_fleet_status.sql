-- raw.fleet_status partitioned by day and deduplicated by a unique key, as raw.device_telemetry is
-- since 0017 (same semantics: an exact copy of a loaded row is skipped and counted, a changed row
-- for the same (ts, device_id) is a new version). It is the platform's largest table at fleet scale:
-- one row per machine and poll, 432M rows a day for 300k miners polled every minute. Nothing
-- aggregates it (the controller and the ops page read the latest poll, the command check the first
-- poll after a command), so retention drops its old days by age (ingestion/retention.py).

alter table raw.fleet_status rename to fleet_status_unpartitioned;

create table raw.fleet_status (
    like raw.fleet_status_unpartitioned,
    row_hash bigint not null generated always as (
        hash_record_extended(
            row(device_id, ts, source, address, state, power_kw, fans_rpm, errors, pool, detail, controls,
                power_target_kw),
            0
        )
    ) stored
) partition by range (ts);

-- Leads with (ts, device_id), so it also serves what the old (ts, device_id) index did.
create unique index fleet_status_key on raw.fleet_status (ts, device_id, row_hash);

-- Partitions are made by the owner's function (0019), so the new table is handed to the owner first.
select public.hcp_assign_owners();

select raw.create_day_partitions(
    'raw.fleet_status',
    array(select distinct (ts at time zone 'UTC')::date from raw.fleet_status_unpartitioned)
);

insert into raw.fleet_status (device_id, ts, source, address, state, power_kw, fans_rpm, errors, pool, detail,
                              load_id, controls, power_target_kw)
select device_id, ts, source, address, state, power_kw, fans_rpm, errors, pool, detail, load_id, controls,
       power_target_kw
from raw.fleet_status_unpartitioned
order by load_id
on conflict do nothing;

-- The ops view (and dbt's staging view, rebuilt by `hcp db migrate`) followed the renamed table.
drop table raw.fleet_status_unpartitioned cascade;

create or replace view ops.fleet_status_latest as
select distinct on (device_id)
    device_id, ts as polled_at, source, address, state, power_kw, fans_rpm, errors, pool, detail
from raw.fleet_status
order by device_id, ts desc, load_id desc;
