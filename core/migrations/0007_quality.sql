-- Data quality: one row per asset-check execution, and the alerts raised from failed runs and checks.
create schema if not exists ops;

create table if not exists ops.check_results (
    check_result_id   bigserial   primary key,
    suite             text        not null,
    asset_key         text        not null,
    partition_key     text,
    passed            boolean     not null,
    severity          text        not null default 'ERROR' check (severity in ('ERROR', 'WARN')),
    rows_checked      bigint      not null default 0,
    unexpected_count  bigint      not null default 0,
    failing           jsonb       not null default '[]'::jsonb,  -- failing expectations with counts
    sample            jsonb       not null default '[]'::jsonb,  -- a few offending rows
    seconds           double precision,
    run_id            text,
    checked_at        timestamptz not null default now()
);
create index if not exists check_results_suite_idx on ops.check_results (suite, checked_at desc);

create table if not exists ops.alerts (
    alert_id      bigserial   primary key,
    source        text        not null check (source in ('run_failure', 'check_failure', 'manual')),
    severity      text        not null default 'ERROR',
    title         text        not null,
    asset_key     text,
    check_name    text,
    partition_key text,
    run_id        text,
    payload       jsonb       not null default '{}'::jsonb,
    hook          text,                  -- 'webhook', 'command' or null when no hook is configured
    hook_status   text,                  -- 'ok', or the error the hook returned
    raised_at     timestamptz not null default now()
);
create index if not exists alerts_raised_at_idx on ops.alerts (raised_at desc);
