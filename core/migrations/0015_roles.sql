-- reapply after restore: idempotent; core.migrate.reapply_privileges runs it again for its roles and grants
-- Least-privilege roles (issue 15): every component connects as its own role, none a superuser.
--
--   hcp_owner     owns raw, ml, ops, billing and their objects; NOLOGIN (migrations run on the
--                 admin path: the embedded server's OS owner, or the DATABASE_URL user)
--   hcp_pipeline  loads, dbt, billing writes, Dagster assets; owns the dbt schemas (staging,
--                 intermediate, marts) so that dbt can replace its own relations
--   hcp_app       the Streamlit app: reads marts, ml, ops, billing; writes only its own tables
--   hcp_api       the REST API (0010);  hcp_analyst  analysts, read only (0004)
--
-- Roles are cluster-wide: creation is conditional, and a setting is written only when it differs
-- (several databases on one server migrate, and concurrent ALTER ROLE fails). Passwords and LOGIN
-- come from core.roles.ensure_roles (a 0600 file outside the repository), never from this file.
do $$
declare
    name text;
    r record;
begin
    foreach name in array array['hcp_owner', 'hcp_pipeline', 'hcp_app'] loop
        if not exists (select from pg_catalog.pg_roles where rolname = name) then
            execute format('create role %I nologin noinherit nosuperuser nocreatedb nocreaterole', name);
        end if;
    end loop;
    -- a non-superuser admin (a managed server) must be able to hand objects to these roles
    if not (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
        execute format('grant hcp_owner, hcp_pipeline to %I', current_user);
    end if;
    for r in
        select v.rolname, v.conns, v.timeout
        from (values ('hcp_owner', 5, '1h'), ('hcp_pipeline', 40, '1h'), ('hcp_app', 30, '30s'),
                     ('hcp_api', 30, '10s'), ('hcp_analyst', 10, '5min')) as v (rolname, conns, timeout)
    loop
        if (select rolconnlimit from pg_catalog.pg_roles where rolname = r.rolname) <> r.conns then
            execute format('alter role %I connection limit %s', r.rolname, r.conns);
        end if;
        if not exists (
            select from pg_catalog.pg_db_role_setting s join pg_catalog.pg_roles o on o.oid = s.setrole
            where o.rolname = r.rolname and s.setdatabase = 0
              and format('statement_timeout=%s', r.timeout) = any (s.setconfig)
        ) then
            execute format('alter role %I set statement_timeout = %L', r.rolname, r.timeout);
        end if;
    end loop;
end
$$;

-- Nobody but the owners creates objects in public (PostgreSQL 15's default, made explicit for
-- upgraded clusters); temporary tables: see hcp_assign_owners below.
revoke create on schema public from public;

-- --- pipeline -------------------------------------------------------------------------------------
grant usage on schema raw, ml, ops, billing to hcp_pipeline;
grant select, insert, update, delete on all tables in schema raw, ml, ops, billing to hcp_pipeline;
grant usage, select, update on all sequences in schema raw, ml, ops, billing to hcp_pipeline;
-- tables later migrations create (as the admin running this one)
alter default privileges in schema raw, ml, ops, billing
    grant select, insert, update, delete on tables to hcp_pipeline;
alter default privileges in schema raw, ml, ops, billing grant usage, select, update on sequences to hcp_pipeline;
-- the audit log is append-only, and the app's users are the app's (and the admin CLI's)
revoke update, delete on ops.audit_log from hcp_pipeline;
revoke all on ops.app_users, ops.app_sessions, ops.login_attempts, ops.api_keys from hcp_pipeline;
grant select on public.schema_migrations to hcp_pipeline;

-- --- app ------------------------------------------------------------------------------------------
grant usage on schema marts, ml, ops, billing to hcp_app;
grant select on all tables in schema marts, ml, ops, billing to hcp_app;
revoke select on ops.api_keys from hcp_app;
grant insert, update on ops.app_users, ops.app_sessions to hcp_app;
grant insert on ops.login_attempts, ops.audit_log to hcp_app;
grant usage on sequence ops.login_attempts_attempt_id_seq, ops.audit_log_audit_id_seq to hcp_app;

-- --- what dbt (as hcp_pipeline) creates in marts stays readable, as before --------------------------
-- (dbt's `grants` config re-grants the same on every rebuild)
alter default privileges for role hcp_pipeline in schema marts
    grant select on tables to hcp_analyst, hcp_api, hcp_app;

-- --- owners -------------------------------------------------------------------------------------
-- Hands every object of the platform's schemas to its owner: hcp_pipeline for dbt's schemas,
-- hcp_owner for the rest. core.migrate runs it after each batch of migrations, so objects that
-- later migrations create (as the admin) move too. Only changes what differs.
-- It also keeps temporary tables to the pipeline (dbt's incremental models, billing's allotments):
-- an analyst who switches read-only mode off still has nowhere to write. A database's own ACL is
-- not copied with it (CREATE DATABASE ... TEMPLATE, a restore), hence here and not above.
create or replace function public.hcp_assign_owners() returns void
language plpgsql as $fn$
declare
    s record;
    o record;
begin
    if has_database_privilege('public', current_database(), 'temporary') then
        execute format('revoke temporary on database %I from public', current_database());
    end if;
    if not has_database_privilege('hcp_pipeline', current_database(), 'temporary') then
        execute format('grant temporary on database %I to hcp_pipeline', current_database());
    end if;
    for s in
        select n.oid, n.nspname, n.nspowner,
               case when n.nspname in ('staging', 'intermediate', 'marts') then 'hcp_pipeline' else 'hcp_owner' end
                   as owner
        from pg_catalog.pg_namespace n
        where n.nspname in ('raw', 'staging', 'intermediate', 'marts', 'ml', 'ops', 'billing')
    loop
        if s.nspowner <> s.owner::regrole::oid then
            execute format('alter schema %I owner to %I', s.nspname, s.owner);
        end if;
        for o in
            select c.relname,
                   case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
                                  when 'S' then 'sequence' when 'f' then 'foreign table' else 'table' end as kind
            from pg_catalog.pg_class c
            where c.relnamespace = s.oid and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
              and c.relowner <> s.owner::regrole::oid
              -- a serial's or identity's sequence moves with its table
              -- (a partitioned table depends internally on itself: that one is not a sequence's)
              and not exists (select from pg_catalog.pg_depend d
                              where d.classid = 'pg_class'::regclass and d.objid = c.oid
                                and d.refobjid <> c.oid and d.deptype in ('a', 'i'))
        loop
            execute format('alter %s %I.%I owner to %I', o.kind, s.nspname, o.relname, s.owner);
        end loop;
        for o in
            select p.oid::regprocedure::text as signature from pg_catalog.pg_proc p
            where p.pronamespace = s.oid and p.proowner <> s.owner::regrole::oid
        loop
            execute format('alter routine %s owner to %I', o.signature, s.owner);
        end loop;
        for o in
            select format('%I.%I', s.nspname, t.typname) as name,
                   case t.typtype when 'd' then 'domain' else 'type' end as kind
            from pg_catalog.pg_type t
            where t.typnamespace = s.oid and t.typtype in ('e', 'd') and t.typowner <> s.owner::regrole::oid
        loop
            execute format('alter %s %s owner to %I', o.kind, o.name, s.owner);
        end loop;
    end loop;
end
$fn$;
revoke all on function public.hcp_assign_owners() from public;
