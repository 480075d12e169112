-- Streamlit app: users with bcrypt password hashes and one role each, login sessions that expire,
-- and the audit trail (shared with other domains, hence "if not exists").
create schema if not exists ops;

create table if not exists ops.app_users (
    username text primary key check (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    role text not null check (role in ('viewer', 'operator', 'analyst', 'finance', 'admin')),
    password_hash text,
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    last_login_at timestamptz
);

create table if not exists ops.app_sessions (
    session_id text primary key,
    username text not null references ops.app_users (username) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    revoked_at timestamptz
);

create index if not exists app_sessions_username_idx on ops.app_sessions (username);

-- ops.audit_log itself is created once, by 0005.
create index if not exists audit_log_at_idx on ops.audit_log (at);
