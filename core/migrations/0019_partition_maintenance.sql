-- reapply after restore: idempotent; the pipeline role's rights on day partitions
-- Day partitions of raw.device_telemetry are created ahead by the loader and dropped by prune, both
-- of which run as hcp_pipeline (assets, the nightly job). Creating and attaching a partition, or
-- detaching and dropping one, needs the parent's owner (hcp_owner), so both go through functions
-- that run as their owner (core.migrate hands raw's functions to hcp_owner), with a fixed
-- search_path, and nothing else of the owner's rights is lent.

alter function raw.create_day_partitions(regclass, date[])
    security definer set search_path = pg_catalog, pg_temp;

create or replace function raw.drop_day_partition(parent regclass, part text)
returns void
language plpgsql
security definer set search_path = pg_catalog, pg_temp
as $$
-- Detaches and drops one day partition of ``parent`` (a plain DETACH: CONCURRENTLY cannot run
-- inside a function; it holds the parent only for the catalog change).
declare
    parent_schema text;
begin
    select n.nspname into parent_schema
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = parent;
    if not exists (
        select 1 from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = parent and c.relname = part and c.relnamespace = (
            select oid from pg_namespace where nspname = parent_schema)
    ) then
        raise exception '%.% is not a partition of %', parent_schema, part, parent;
    end if;
    execute format('alter table %s detach partition %I.%I', parent, parent_schema, part);
    execute format('drop table %I.%I', parent_schema, part);
end;
$$;

revoke all on function raw.create_day_partitions(regclass, date[]) from public;
revoke all on function raw.drop_day_partition(regclass, text) from public;
grant execute on function raw.create_day_partitions(regclass, date[]) to hcp_pipeline;
grant execute on function raw.drop_day_partition(regclass, text) to hcp_pipeline;
