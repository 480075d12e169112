-- Billing: contracts and prices beyond the flat rate cards of raw.rate_cards, invoices with their
-- line items and the usage behind each line, credit notes, budgets and alerts, Stripe sync state,
-- PII erasure records, and the append-only audit log. Money is NUMERIC everywhere; amounts on
-- invoices are already rounded to the cent by kernels.billing.money.round_money (the one rule).

create schema if not exists billing;
create schema if not exists ops;

-- ops.audit_log itself is created once, by 0005.
create or replace function ops.reject_audit_log_change() returns trigger
language plpgsql as $$
begin
    raise exception 'ops.audit_log is append-only: % is not allowed', tg_op;
end;
$$;

drop trigger if exists audit_log_append_only on ops.audit_log;
create trigger audit_log_append_only
    before update or delete on ops.audit_log
    for each row execute function ops.reject_audit_log_change();

-- --- versioned prices and contracts ---------------------------------------------------------------
-- Every table has effective_from: a change is a new row and applies from its date, never before.

-- Tiered price plans replace the flat card for a (customer, GPU model, workload type) from the
-- first billing period that starts on or after effective_from.
create table if not exists billing.price_plans (
    plan_id        text        primary key,
    customer_id    text,                              -- null: every customer without its own plan
    gpu_model      text        not null,
    workload_type  text        not null,
    pricing_model  text        not null check (pricing_model in ('graduated', 'volume')),
    effective_from timestamptz not null,
    created_at     timestamptz not null default now()
);

create table if not exists billing.price_plan_tiers (
    plan_id                    text           not null references billing.price_plans (plan_id),
    tier_no                    integer        not null,
    up_to_gpu_hours            numeric(18, 6),            -- null: no upper bound (last tier)
    unit_price_usd_per_gpu_hour numeric(12, 6) not null,
    flat_fee_usd               numeric(12, 2) not null default 0,
    primary key (plan_id, tier_no)
);

-- Committed use: N GPUs of a pool reserved at a discounted rate, billed whether used or not.
create table if not exists billing.commitments (
    commitment_id          text           primary key,
    customer_id            text           not null,
    gpu_pool               text           not null,
    reserved_gpus          integer        not null check (reserved_gpus > 0),
    rate_usd_per_gpu_hour  numeric(12, 6) not null,
    effective_from         timestamptz    not null,
    effective_to           timestamptz
);

-- Prepaid credits; applications are recorded per invoice so a credit is never spent twice.
create table if not exists billing.credits (
    credit_id   text           primary key,
    customer_id text           not null,
    amount_usd  numeric(14, 2) not null check (amount_usd > 0),
    granted_at  timestamptz    not null,
    expires_at  timestamptz,
    note        text
);

create table if not exists billing.discounts (
    customer_id    text          not null,
    percent        numeric(5, 2) not null check (percent between 0 and 100),
    effective_from timestamptz   not null,
    primary key (customer_id, effective_from)
);

-- Colocation: a customer's rack at a facility, metered energy at the node's real-time price + adder.
create table if not exists billing.colocation_contracts (
    contract_id       text           primary key,
    customer_id       text           not null,
    facility_id       text           not null,
    rack              text           not null,
    adder_usd_per_mwh numeric(12, 4) not null,
    effective_from    timestamptz    not null
);

create table if not exists billing.budgets (
    customer_id        text           not null,
    monthly_budget_usd numeric(14, 2) not null check (monthly_budget_usd > 0),
    effective_from     timestamptz    not null,
    primary key (customer_id, effective_from)
);

create table if not exists billing.budget_alerts (
    alert_id          bigserial      primary key,
    customer_id       text           not null,
    period            text           not null,
    threshold_pct     integer        not null,
    budget_usd        numeric(14, 2) not null,
    usage_to_date_usd numeric(14, 2) not null,
    projected_usd     numeric(14, 2) not null,
    raised_at         timestamptz    not null default now(),
    notified_at       timestamptz,
    unique (customer_id, period, threshold_pct)
);

-- --- invoices -------------------------------------------------------------------------------------

-- Gapless numbers: one counter row per series, locked FOR UPDATE inside the finalizing transaction
-- (a sequence would leave gaps on rollback).
create table if not exists billing.invoice_counters (
    series      text   primary key,
    next_number bigint not null default 1
);
insert into billing.invoice_counters (series) values ('INV'), ('CN') on conflict do nothing;

create table if not exists billing.invoices (
    invoice_id        bigserial      primary key,
    kind              text           not null default 'invoice'
        check (kind in ('invoice', 'credit_note', 'debit_note')),
    refers_to         bigint         references billing.invoices (invoice_id),
    customer_id       text           not null,
    period            text           not null,              -- YYYY-MM in the customer's time zone
    period_start      timestamptz    not null,
    period_end        timestamptz    not null,
    timezone          text           not null,
    status            text           not null default 'draft'
        check (status in ('draft', 'finalized', 'sent', 'paid')),
    invoice_number    text           unique,
    currency          text           not null default 'usd',
    subtotal_usd      numeric(14, 2) not null default 0,
    discount_usd      numeric(14, 2) not null default 0,
    credit_usd        numeric(14, 2) not null default 0,
    tax_rate          numeric(6, 5)  not null default 0,
    tax_usd           numeric(14, 2) not null default 0,
    total_usd         numeric(14, 2) not null default 0,
    reason            text,
    -- The invoice's own frozen copy of the legally required customer data (name, address, tax id),
    -- encrypted; erasing a customer's PII keeps it so the invoice stays valid.
    bill_to_encrypted bytea,
    bill_to_key_id    text,
    created_at        timestamptz    not null default now(),
    issued_at         timestamptz,
    due_at            timestamptz,
    finalized_at      timestamptz,
    finalized_by      text,
    sent_at           timestamptz,
    paid_at           timestamptz
);
create unique index if not exists invoices_one_per_period
    on billing.invoices (customer_id, period) where kind = 'invoice';
create index if not exists invoices_period on billing.invoices (period);

create table if not exists billing.invoice_lines (
    line_id       bigserial      primary key,
    invoice_id    bigint         not null references billing.invoices (invoice_id) on delete cascade,
    line_no       integer        not null,
    line_kind     text           not null,
    description   text           not null,
    gpu_model     text,
    gpu_pool      text,
    workload_type text,
    quantity      numeric(20, 6) not null,
    unit          text           not null,
    unit_price_usd numeric(14, 6) not null,
    amount_usd    numeric(14, 2) not null,
    rate_card_id  text,
    plan_id       text,
    commitment_id text,
    unique (invoice_id, line_no)
);

-- The usage behind each line: one row per workload span piece (all its GPUs), so
-- "why this amount" is a join of invoice_lines and invoice_line_usage.
create table if not exists billing.invoice_line_usage (
    line_id          bigint         not null references billing.invoice_lines (line_id) on delete cascade,
    workload_id      text           not null,
    span_id          text           not null,
    started_at       timestamptz    not null,
    ended_at         timestamptz    not null,
    gpus             integer        not null,
    gpu_seconds      bigint         not null,
    billable_seconds numeric(20, 6) not null,
    rate_usd_per_gpu_hour numeric(12, 6) not null
);
create index if not exists invoice_line_usage_line on billing.invoice_line_usage (line_id);

create table if not exists billing.credit_applications (
    credit_id  text           not null references billing.credits (credit_id),
    invoice_id bigint         not null references billing.invoices (invoice_id) on delete cascade,
    amount_usd numeric(14, 2) not null check (amount_usd > 0),
    primary key (credit_id, invoice_id)
);

-- A finalized document is immutable: only its status moves forward (finalized -> sent -> paid)
-- and its frozen bill-to copy may be re-encrypted under a new key (same content).
create or replace function billing.guard_invoice() returns trigger
language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        if old.status <> 'draft' then
            raise exception 'invoice % is % and cannot be deleted', old.invoice_number, old.status;
        end if;
        return old;
    end if;
    if old.status = 'draft' then
        return new;
    end if;
    if (new.kind, new.refers_to, new.customer_id, new.period, new.period_start, new.period_end,
        new.timezone, new.invoice_number, new.currency, new.subtotal_usd, new.discount_usd,
        new.credit_usd, new.tax_rate, new.tax_usd, new.total_usd, new.reason, new.issued_at,
        new.due_at, new.finalized_at, new.finalized_by)
       is distinct from
       (old.kind, old.refers_to, old.customer_id, old.period, old.period_start, old.period_end,
        old.timezone, old.invoice_number, old.currency, old.subtotal_usd, old.discount_usd,
        old.credit_usd, old.tax_rate, old.tax_usd, old.total_usd, old.reason, old.issued_at,
        old.due_at, old.finalized_at, old.finalized_by) then
        raise exception 'invoice % is % and immutable; issue a credit note instead',
            old.invoice_number, old.status;
    end if;
    if not (new.status = old.status
            or (old.status = 'finalized' and new.status in ('sent', 'paid'))
            or (old.status = 'sent' and new.status = 'paid')) then
        raise exception 'invoice % cannot move from % to %', old.invoice_number, old.status, new.status;
    end if;
    return new;
end;
$$;

drop trigger if exists invoices_immutable on billing.invoices;
create trigger invoices_immutable
    before update or delete on billing.invoices
    for each row execute function billing.guard_invoice();

-- Lines and their usage belong to a draft until finalization; statement-level checks keep bulk
-- inserts of usage rows cheap.
create or replace function billing.guard_invoice_children() returns trigger
language plpgsql as $$
declare
    locked text;
begin
    if tg_table_name = 'invoice_lines' then
        select i.invoice_number into locked
        from billing.invoices i
        where i.status <> 'draft'
          and i.invoice_id in (select invoice_id from changed_rows);
    else
        select i.invoice_number into locked
        from billing.invoices i
        join billing.invoice_lines l on l.invoice_id = i.invoice_id
        where i.status <> 'draft'
          and l.line_id in (select line_id from changed_rows);
    end if;
    if found then
        raise exception 'invoice % is finalized: its lines are immutable', locked;
    end if;
    return null;
end;
$$;

drop trigger if exists invoice_lines_insert on billing.invoice_lines;
drop trigger if exists invoice_lines_update on billing.invoice_lines;
drop trigger if exists invoice_lines_delete on billing.invoice_lines;
create trigger invoice_lines_insert after insert on billing.invoice_lines
    referencing new table as changed_rows
    for each statement execute function billing.guard_invoice_children();
create trigger invoice_lines_update after update on billing.invoice_lines
    referencing old table as changed_rows
    for each statement execute function billing.guard_invoice_children();
create trigger invoice_lines_delete after delete on billing.invoice_lines
    referencing old table as changed_rows
    for each statement execute function billing.guard_invoice_children();

drop trigger if exists invoice_line_usage_insert on billing.invoice_line_usage;
drop trigger if exists invoice_line_usage_update on billing.invoice_line_usage;
create trigger invoice_line_usage_insert after insert on billing.invoice_line_usage
    referencing new table as changed_rows
    for each statement execute function billing.guard_invoice_children();
create trigger invoice_line_usage_update after update on billing.invoice_line_usage
    referencing old table as changed_rows
    for each statement execute function billing.guard_invoice_children();

-- --- Stripe and PII -------------------------------------------------------------------------------

create table if not exists billing.stripe_objects (
    object_type     text        not null,   -- customer | invoice | invoiceitem
    our_id          text        not null,
    stripe_id       text        not null,
    idempotency_key text        not null,
    synced_at       timestamptz not null default now(),
    primary key (object_type, our_id)
);

create table if not exists billing.pii_erasures (
    customer_id text        primary key,
    erased_at   timestamptz not null default now(),
    actor       text        not null
);
