-- Login hardening: every sign-in attempt (bounded username, client address) so throttling and
-- lockout work per user and per address across app processes; TOTP secrets for the roles that need
-- a second factor; audit rows bounded in size so the sign-in form cannot fill the disk.
create table if not exists ops.login_attempts (
    attempt_id bigserial primary key,
    at         timestamptz not null default now(),
    username   text        not null check (length(username) <= 80),
    client     text        not null check (length(client) <= 80),
    succeeded  boolean     not null
);
create index if not exists login_attempts_user_at on ops.login_attempts (username, at);
create index if not exists login_attempts_client_at on ops.login_attempts (client, at);

alter table ops.app_users add column if not exists totp_secret text;
alter table ops.app_users add column if not exists password_changed_at timestamptz;

-- Existing rows are left as they are (NOT VALID); new rows must stay small.
alter table ops.audit_log drop constraint if exists audit_log_bounded;
alter table ops.audit_log add constraint audit_log_bounded check (
    coalesce(length(actor), 0) <= 200
    and coalesce(length(entity), 0) <= 400
    and coalesce(length(before::text), 0) <= 100000
    and coalesce(length(after::text), 0) <= 100000
) not valid;

-- TRUNCATE skips row triggers: refuse it on the append-only audit log too.
drop trigger if exists audit_log_no_truncate on ops.audit_log;
create trigger audit_log_no_truncate
    before truncate on ops.audit_log
    for each statement execute function ops.reject_audit_log_change();
