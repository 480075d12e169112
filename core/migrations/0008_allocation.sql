-- Allocation: the hourly plan (device x interval), its facility summary and run log, and the
-- backtest of the plan policy against simple rules (written by assets/allocation.py).

create table if not exists ops.allocation_plans (
    plan_id       text        primary key,
    issued_at     timestamptz not null,
    horizon_start timestamptz not null,
    horizon_hours numeric(8, 3) not null,
    dt_hours      numeric(8, 4) not null,
    objective     double precision,
    upper_bound   double precision,
    gap           double precision,
    seconds       double precision,
    devices       integer     not null,
    intervals     integer     not null,
    status        text        not null check (status in ('feasible', 'infeasible', 'empty')),
    inputs        jsonb       not null default '{}'::jsonb   -- where each input came from
);
create index if not exists allocation_plans_issued_at on ops.allocation_plans (issued_at desc);

create table if not exists ops.allocation_plan (
    plan_id             text           not null references ops.allocation_plans (plan_id) on delete cascade,
    issued_at           timestamptz    not null,
    device_id           text           not null,
    interval_start      timestamptz    not null,
    mode                text           not null check (mode in ('mining', 'inference', 'curtailed')),
    expected_margin_usd numeric(18, 6) not null,
    reason              text           not null,
    primary key (plan_id, device_id, interval_start)
);

create table if not exists ops.allocation_plan_facility_summary (
    plan_id             text           not null references ops.allocation_plans (plan_id) on delete cascade,
    facility_id         text           not null,
    interval_start      timestamptz    not null,
    mw_mining           numeric(14, 6) not null,
    mw_inference        numeric(14, 6) not null,
    mw_curtailed        numeric(14, 6) not null,
    cap_mw              numeric(14, 6) not null,
    expected_profit_usd numeric(18, 6) not null,
    primary key (plan_id, facility_id, interval_start)
);

-- The newest plan only: what the dashboard shows.
create or replace view ops.allocation_plan_latest as
select p.*
from ops.allocation_plan as p
where p.plan_id = (select plan_id from ops.allocation_plans order by issued_at desc limit 1);

create table if not exists ops.allocation_backtest_runs (
    run_id     text        primary key,
    ran_at     timestamptz not null,
    first_day  date,
    last_day   date,
    days       integer     not null,
    dt_hours   numeric(8, 4) not null,
    summary    jsonb       not null default '{}'::jsonb
);

create table if not exists ops.allocation_backtest (
    run_id              text           not null references ops.allocation_backtest_runs (run_id) on delete cascade,
    day                 date           not null,
    policy              text           not null
        check (policy in ('optimizer', 'always_on', 'strike_price', 'perfect_foresight')),
    realized_profit_usd numeric(18, 6) not null,
    revenue_usd         numeric(18, 6) not null,
    energy_cost_usd     numeric(18, 6) not null,
    restart_cost_usd    numeric(18, 6) not null,
    penalty_usd         numeric(18, 6) not null,
    energy_mwh          numeric(18, 6) not null,
    device_hours        numeric(18, 3) not null,
    primary key (run_id, day, policy)
);

-- Totals per policy of each run (the dashboard's "what the optimizer earned").
create or replace view ops.allocation_backtest_totals as
select
    run_id,
    policy,
    count(*) as days,
    sum(realized_profit_usd) as realized_profit_usd,
    sum(energy_mwh) as energy_mwh,
    sum(device_hours) as device_hours
from ops.allocation_backtest
group by run_id, policy;
