-- Billing integrity beyond 0006: a document moves only along draft -> finalized -> sent -> paid
-- (never draft -> paid), the usage behind a finalized line (lineage) and the credit applications of
-- a finalized invoice cannot be inserted, changed or deleted, and TRUNCATE (which skips row
-- triggers) is refused on every table that holds finalized documents, the credit ledger and the
-- audit trail. Test resets and the OS owner's maintenance path switch triggers off with
-- session_replication_role = replica, which only a superuser can set.

create or replace function billing.guard_status_transition() returns trigger
language plpgsql as $$
begin
    if new.status is distinct from old.status and not (
        (old.status = 'draft' and new.status = 'finalized')
        or (old.status = 'finalized' and new.status in ('sent', 'paid'))
        or (old.status = 'sent' and new.status = 'paid')) then
        raise exception 'invoice % cannot move from % to %',
            coalesce(old.invoice_number, old.invoice_id::text), old.status, new.status;
    end if;
    return new;
end;
$$;

drop trigger if exists invoices_status_transition on billing.invoices;
create trigger invoices_status_transition
    before update of status on billing.invoices
    for each row execute function billing.guard_status_transition();

create or replace function billing.guard_finalized_children() returns trigger
language plpgsql as $$
declare
    locked text;
begin
    if tg_table_name = 'credit_applications' then
        select coalesce(i.invoice_number, i.invoice_id::text) into locked
        from billing.invoices i
        where i.status <> 'draft' and i.invoice_id in (select invoice_id from changed_rows);
    else
        select coalesce(i.invoice_number, i.invoice_id::text) into locked
        from billing.invoices i
        join billing.invoice_lines l on l.invoice_id = i.invoice_id
        where i.status <> 'draft' and l.line_id in (select line_id from changed_rows);
    end if;
    if found then
        raise exception 'invoice % is finalized: its % are immutable', locked, tg_table_name;
    end if;
    return null;
end;
$$;

drop trigger if exists invoice_line_usage_delete on billing.invoice_line_usage;
create trigger invoice_line_usage_delete after delete on billing.invoice_line_usage
    referencing old table as changed_rows
    for each statement execute function billing.guard_finalized_children();

drop trigger if exists credit_applications_insert on billing.credit_applications;
drop trigger if exists credit_applications_update on billing.credit_applications;
drop trigger if exists credit_applications_delete on billing.credit_applications;
create trigger credit_applications_insert after insert on billing.credit_applications
    referencing new table as changed_rows
    for each statement execute function billing.guard_finalized_children();
create trigger credit_applications_update after update on billing.credit_applications
    referencing old table as changed_rows
    for each statement execute function billing.guard_finalized_children();
create trigger credit_applications_delete after delete on billing.credit_applications
    referencing old table as changed_rows
    for each statement execute function billing.guard_finalized_children();

create or replace function billing.reject_truncate() returns trigger
language plpgsql as $$
begin
    raise exception '%.% holds finalized billing records: TRUNCATE is not allowed', tg_table_schema, tg_table_name;
end;
$$;

do $$
declare
    t text;
begin
    foreach t in array array['invoices', 'invoice_lines', 'invoice_line_usage', 'credit_applications',
                             'credits', 'invoice_counters', 'pii_erasures'] loop
        execute format('drop trigger if exists %I on billing.%I', t || '_no_truncate', t);
        execute format('create trigger %I before truncate on billing.%I '
                       'for each statement execute function billing.reject_truncate()', t || '_no_truncate', t);
    end loop;
end;
$$;
