-- Live fleet: machine status per poll (loaded like any landing file), the controller's commands
-- and the alerts raised when a machine does not do what it was told.

create table if not exists raw.fleet_status (
    device_id text        not null,   -- a device id, or a GPU node name when the node did not answer
    ts        timestamptz not null,
    source    text        not null,   -- miner | gpu
    address   text,
    state     text        not null,   -- mining | sleeping | serving | idle | unreachable | error
    power_kw  real,
    fans_rpm  text[],
    errors    text[],
    pool      text,
    detail    text,
    load_id   bigint      not null
);
create index if not exists fleet_status_ts on raw.fleet_status (ts, device_id);

-- One row per command the controller decided on, dry-run or executed; status moves
-- planned/skipped (dry run, or held back by a safety rule) or pending -> applied | failed.
create table if not exists ops.fleet_commands (
    command_id     bigserial   primary key,
    run_id         text        not null,
    issued_at      timestamptz not null default now(),
    interval_start timestamptz,
    device_id      text        not null,
    facility_id    text,
    action         text        not null
        check (action in ('sleep', 'wake', 'power_target', 'drain', 'undrain', 'power_cap')),
    target         jsonb       not null default '{}'::jsonb,
    rule           text        not null,   -- plan | curtail_power_cap | curtail_price_spike
    reason         text        not null,
    mode           text        not null check (mode in ('dry_run', 'execute')),
    status         text        not null check (status in ('planned', 'skipped', 'pending', 'applied', 'failed')),
    result         text,
    finished_at    timestamptz,
    checked_at     timestamptz              -- when commanded vs observed was compared (next poll)
);
create index if not exists fleet_commands_device on ops.fleet_commands (device_id, issued_at desc);

-- Commanded vs observed: raised when the next poll does not show the commanded state.
create table if not exists ops.fleet_alerts (
    alert_id   bigserial   primary key,
    raised_at  timestamptz not null default now(),
    command_id bigint      references ops.fleet_commands (command_id),
    device_id  text        not null,
    kind       text        not null check (kind in ('state_mismatch', 'unreachable', 'command_failed')),
    commanded  text,
    observed   text,
    detail     text
);
create index if not exists fleet_alerts_raised on ops.fleet_alerts (raised_at desc);

-- The latest status of each machine, for the ops page (the app reads ops, not raw).
create or replace view ops.fleet_status_latest as
select distinct on (device_id)
    device_id, ts as polled_at, source, address, state, power_kw, fans_rpm, errors, pool, detail
from raw.fleet_status
order by device_id, ts desc, load_id desc;
