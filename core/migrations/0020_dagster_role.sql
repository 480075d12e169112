-- reapply after restore: idempotent; the role is cluster-wide and a restore onto a new server lacks it
-- Dagster's own role (issue 15): the daemon, the webserver and the run processes keep runs, event
-- logs and schedule state in Dagster's database (<db>_dagster, orchestration/instance.py) as
-- hcp_dagster, which owns that database and nothing in the platform's.
--
-- Roles are cluster-wide: creation is conditional and a setting is written only when it differs, as
-- in 0015. LOGIN and the password come from core.roles.ensure_roles.
do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'hcp_dagster') then
        create role hcp_dagster nologin noinherit nosuperuser nocreatedb nocreaterole;
    end if;
    -- a non-superuser admin (a managed server) must be able to create the database owned by it
    if not (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
        execute format('grant hcp_dagster to %I', current_user);
    end if;
    -- the daemon's threads, the webserver and each run process hold their own connections
    if (select rolconnlimit from pg_catalog.pg_roles where rolname = 'hcp_dagster') <> 60 then
        alter role hcp_dagster connection limit 60;
    end if;
    if not exists (
        select from pg_catalog.pg_db_role_setting s join pg_catalog.pg_roles o on o.oid = s.setrole
        where o.rolname = 'hcp_dagster' and s.setdatabase = 0
          and 'statement_timeout=10min' = any (s.setconfig)
    ) then
        alter role hcp_dagster set statement_timeout = '10min';
    end if;
end
$$;
