-- Telemetry partitioned by day, deduplicated by a unique key in the database (issue 17).
--
-- raw.device_telemetry is the one high-volume raw table: ASIC and GPU samples both land in it
-- (300k devices at 5 minutes is 86M rows a day). The other raw tables grow with facilities, price
-- nodes or workloads (thousands of rows a day), so they stay single tables.
--
-- Dedup semantics are those of 0002: an exact duplicate of a loaded row is skipped and counted, a
-- revised row for the same (ts, device_id) is a new version (staging keeps the latest load). The
-- unique key is therefore the natural key plus a hash of the row's stored values (load_id left out):
-- the loader inserts with ON CONFLICT DO NOTHING and counts what was not inserted.
-- hash_record_extended (PostgreSQL 14+) hashes each value with its type's own hash function, so the
-- hash depends on the stored values only, never on session settings (time zone, float digits).
--
-- Partitions are one UTC day each, created ahead by the loader through raw.create_day_partitions;
-- there is no default partition: a row for a day without a partition is an error, not a silent
-- catch-all that would later block attaching that day.

create or replace function raw.create_day_partitions(parent regclass, days date[])
returns integer
language plpgsql
as $$
-- Creates the missing day partitions of ``parent`` (named <table>_pYYYYMMDD) and returns how many.
-- Safe under concurrent loads: a partition is built as a table and then ATTACHed, which takes only
-- SHARE UPDATE EXCLUSIVE on the parent (CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE
-- and wait for every running load), and an advisory lock per partition name stops two loads from
-- creating the same day.
declare
    parent_schema text;
    parent_name   text;
    day           date;
    part          text;
    made          integer := 0;
begin
    select n.nspname, c.relname into parent_schema, parent_name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.oid = parent;
    for day in select distinct d from unnest(days) as d where d is not null order by 1 loop
        part := format('%s_p%s', parent_name, to_char(day, 'YYYYMMDD'));
        continue when to_regclass(format('%I.%I', parent_schema, part)) is not null;
        perform pg_advisory_xact_lock(hashtext('hcp-partition:' || parent_schema || '.' || part));
        -- rechecked with a query (a fresh snapshot sees the other load's commit; to_regclass reads the
        -- catalog cache, which taking an advisory lock does not refresh)
        continue when exists (
            select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = parent_schema and c.relname = part
        );
        execute format(
            'create table %I.%I (like %s including defaults including generated including constraints)',
            parent_schema, part, parent
        );
        execute format(
            'alter table %s attach partition %I.%I for values from (%L) to (%L)',
            parent, parent_schema, part,
            day::timestamp at time zone 'UTC', (day + 1)::timestamp at time zone 'UTC'
        );
        made := made + 1;
    end loop;
    return made;
end;
$$;

alter table raw.device_telemetry rename to device_telemetry_unpartitioned;

create table raw.device_telemetry (
    like raw.device_telemetry_unpartitioned,  -- device_id, ts, power_kw, hashrate_ths, gpu_util_pct, temperature_c, load_id
    row_hash bigint not null generated always as (
        hash_record_extended(row(device_id, ts, power_kw, hashrate_ths, gpu_util_pct, temperature_c), 0)
    ) stored
) partition by range (ts);

-- Leads with ts: loads arrive in time order and append at the right edge of each day's index, and
-- staging reads by time window (measured against a BRIN on ts: see docs/operations.md).
create unique index device_telemetry_key on raw.device_telemetry (ts, device_id, row_hash);

select raw.create_day_partitions(
    'raw.device_telemetry',
    array(select distinct (ts at time zone 'UTC')::date from raw.device_telemetry_unpartitioned)
);

-- Every row is kept; an exact copy of an earlier load's row (only possible by hand, the loader skipped
-- them) keeps its first load, as the loader would have.
insert into raw.device_telemetry (device_id, ts, power_kw, hashrate_ths, gpu_util_pct, temperature_c, load_id)
select device_id, ts, power_kw, hashrate_ths, gpu_util_pct, temperature_c, load_id
from raw.device_telemetry_unpartitioned
order by load_id
on conflict do nothing;

-- dbt staging views that read raw.device_telemetry (stg_raw__device_power_live) followed the renamed
-- table: they go with it, and `hcp db migrate` rebuilds dbt staging after applying migrations.
drop table raw.device_telemetry_unpartitioned cascade;

-- A re-ingest looks up the rejects its file already quarantined (ingestion.bulk.quarantine_staged).
create index quarantine_source_file on raw.quarantine (source_file);
