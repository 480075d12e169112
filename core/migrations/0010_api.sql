-- reapply after restore: idempotent; core.migrate.reapply_privileges runs it again for its roles and grants
-- REST API: its own least-privilege login role, API keys (hashed), and Stripe webhook events.
--
-- hcp_api reads the marts, invoices with their lines, and the allocation plans; it writes only
-- the audit log, the Stripe events it receives, and the status columns of invoices (the
-- invoices_immutable trigger still refuses any backward move). It is created NOLOGIN: `hcp api
-- serve` enables LOGIN (with HCP_API_DB_PASSWORD when set). Roles are cluster-wide, hence the
-- conditional creation.
do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'hcp_api') then
        create role hcp_api nologin noinherit nocreatedb nocreaterole;
    end if;
end
$$;

-- Audit rows of reads are many and small: a crash of the server may lose the last few hundred
-- milliseconds of them, never half a row. Webhook transactions turn synchronous commit back on.
-- (each written only when it differs: roles are cluster-wide and concurrent ALTER ROLE fails)
do $$
declare
    setting text;
begin
    foreach setting in array array['synchronous_commit=off', 'statement_timeout=10s'] loop
        if not exists (
            select from pg_catalog.pg_db_role_setting s join pg_catalog.pg_roles o on o.oid = s.setrole
            where o.rolname = 'hcp_api' and s.setdatabase = 0 and setting = any (s.setconfig)
        ) then
            execute format('alter role hcp_api set %s = %L', split_part(setting, '=', 1),
                           split_part(setting, '=', 2));
        end if;
    end loop;
end
$$;

-- --- API keys -------------------------------------------------------------------------------------
-- The secret is shown once; only HMAC-SHA256(server secret, secret) is stored (api/keys.py).
create table if not exists ops.api_keys (
    key_id         text        primary key check (key_id ~ '^[a-f0-9]{16}$'),
    secret_hash    bytea       not null,
    name           text        not null,
    scope          text        not null check (scope in ('customer', 'operator')),
    customer_id    text,
    read_scopes    text[]      not null,
    rate_per_minute integer    not null default 600 check (rate_per_minute > 0),
    created_at     timestamptz not null default now(),
    created_by     text        not null,
    rotated_from   text        references ops.api_keys (key_id),
    revoked_at     timestamptz,
    check ((scope = 'customer') = (customer_id is not null))
);

-- --- Stripe webhooks ------------------------------------------------------------------------------
-- One row per Stripe event id: a redelivered event finds its row and changes nothing.
create table if not exists billing.stripe_events (
    event_id       text        primary key,
    event_type     text        not null,
    stripe_created timestamptz not null,
    received_at    timestamptz not null default now(),
    stripe_object  text,
    invoice_id     bigint      references billing.invoices (invoice_id),
    amount_cents   bigint,
    outcome        text        not null
);
create index if not exists stripe_events_invoice on billing.stripe_events (invoice_id, stripe_created);

-- The API's pages: a customer's documents newest first.
create index if not exists invoices_customer_api on billing.invoices (customer_id, invoice_id);

-- --- grants ---------------------------------------------------------------------------------------
revoke all on schema raw, staging, intermediate, ml from hcp_api;
revoke create on schema public from hcp_api;
grant usage on schema marts, billing, ops to hcp_api;

grant select on all tables in schema marts to hcp_api;
-- tables dbt creates later in marts; dbt's grants config names hcp_api too, so rebuilds keep it.
alter default privileges in schema marts grant select on tables to hcp_api;

grant select on billing.invoices, billing.invoice_lines, billing.stripe_objects to hcp_api;
grant update (status, sent_at, paid_at) on billing.invoices to hcp_api;
grant select, insert on billing.stripe_events to hcp_api;

grant select on ops.api_keys to hcp_api;
grant insert on ops.audit_log to hcp_api;
grant usage on sequence ops.audit_log_audit_id_seq to hcp_api;
grant select on ops.allocation_plans, ops.allocation_plan, ops.allocation_plan_facility_summary to hcp_api;
grant select on public.schema_migrations to hcp_api;
