-- reapply after restore: idempotent (the table if missing, its grant to hcp_api)
-- REST API rate limits shared by every API process: a fixed one-minute window per key, counted
-- with an UPSERT (api/auth.py). Unlogged: a counter is worth nothing after a crash (the budget then
-- starts afresh), and unlogged writes skip the WAL on every request.
create unlogged table if not exists ops.api_rate_windows (
    key_id       text        not null references ops.api_keys (key_id) on delete cascade,
    window_start timestamptz not null,
    hits         integer     not null check (hits > 0),
    primary key (key_id, window_start)
);

grant select, insert, update, delete on ops.api_rate_windows to hcp_api;
