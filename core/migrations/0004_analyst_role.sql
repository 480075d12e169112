-- reapply after restore: idempotent; core.migrate.reapply_privileges runs it again for its roles and grants
-- Read-only role for analysts: the marts schema and nothing else. The role is created NOLOGIN;
-- core.roles.set_analyst_password() enables LOGIN with a password from HCP_ANALYST_PASSWORD.
-- Roles are cluster-wide: creation is conditional so several databases on one server can migrate.
do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'hcp_analyst') then
        create role hcp_analyst nologin noinherit nocreatedb nocreaterole;
    end if;
end
$$;

-- Roles are cluster-wide: written only when it differs, since several databases on one server
-- migrate at once and concurrent ALTER ROLE fails ("tuple concurrently updated").
do $$
begin
    if not exists (
        select from pg_catalog.pg_db_role_setting s join pg_catalog.pg_roles o on o.oid = s.setrole
        where o.rolname = 'hcp_analyst' and s.setdatabase = 0
          and 'default_transaction_read_only=on' = any (s.setconfig)
    ) then
        alter role hcp_analyst set default_transaction_read_only = on;
    end if;
end
$$;

revoke all on schema raw, staging, intermediate, ml, ops from hcp_analyst;
revoke create on schema public from hcp_analyst;
grant usage on schema marts to hcp_analyst;
grant select on all tables in schema marts to hcp_analyst;
-- tables that the migrating role (the one dbt runs as) creates later in marts are readable too;
-- dbt also re-grants on every rebuild through the marts' `grants` config.
alter default privileges in schema marts grant select on tables to hcp_analyst;
