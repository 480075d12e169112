-- Raw, append-only landing tables. Every row carries the load that brought it; natural keys are
-- indexed (not unique): a revised row for the same key is a new version, and staging keeps the
-- latest load. Exact duplicates of loaded rows are skipped by the loader and counted.

create table raw.load_log (
    load_id            bigserial primary key,
    kind               text        not null,
    source_file        text        not null,
    file_sha256        text,
    started_at         timestamptz not null default now(),
    finished_at        timestamptz,
    rows_in            integer     not null default 0,
    loaded             integer     not null default 0,
    quarantined        integer     not null default 0,
    duplicates_skipped integer     not null default 0,
    status             text        not null default 'running'
        check (status in ('running', 'succeeded', 'failed'))
);

create table raw.quarantine (
    quarantine_id  bigserial primary key,
    load_id        bigint      not null references raw.load_log (load_id),
    kind           text        not null,
    source_file    text        not null,
    line_no        integer,
    field          text,
    reason         text        not null,
    raw_record     text,
    quarantined_at timestamptz not null default now()
);
create index on raw.quarantine (load_id);

create table raw.price_nodes (
    node_name  text not null,
    market     text not null,
    node_type  text,
    timezone   text not null,
    load_id    bigint not null references raw.load_log (load_id),
    primary key (market, node_name)
);

create table raw.energy_prices (
    market               text          not null,
    node_name            text          not null,
    price_kind           text          not null check (price_kind in ('rt', 'da')),
    interval_start_utc   timestamptz   not null,
    interval_minutes     smallint      not null,
    interval_start_local timestamp     not null,
    price_usd_per_mwh    numeric(12, 4) not null,
    load_id              bigint        not null
);
create index on raw.energy_prices (market, node_name, price_kind, interval_start_utc);

create table raw.btc_economics (
    observed_at          timestamptz    not null,
    btc_price_usd        numeric(14, 4),
    difficulty           numeric(30, 4),
    hashrate_ths         numeric(24, 4),
    block_subsidy_btc    numeric(12, 8),
    fees_btc_per_block   numeric(12, 8),
    load_id              bigint         not null
);
create index on raw.btc_economics (observed_at);

create table raw.facilities (
    facility_id    text           not null,
    name           text           not null,
    market         text           not null,
    price_node     text           not null,
    timezone       text           not null,
    power_cap_kw   numeric(14, 3) not null,
    pue            numeric(6, 4)  not null,
    load_id        bigint         not null
);
create index on raw.facilities (facility_id);

create table raw.devices (
    device_id              text           not null,
    facility_id            text           not null,
    kind                   text           not null check (kind in ('asic', 'gpu')),
    model                  text           not null,
    gpu_pool               text,
    nominal_power_kw       numeric(10, 4) not null,
    nominal_hashrate_ths   numeric(10, 3),
    rack                   text,
    rack_row               integer,
    rack_slot              integer,
    load_id                bigint         not null
);
create index on raw.devices (device_id);

-- PII is encrypted by the loader (AES-256-GCM); only the ciphertext and the key id are stored.
create table raw.customers (
    customer_id   text          not null,
    pii_encrypted bytea         not null,
    pii_key_id    text          not null,
    timezone      text          not null,
    tax_rate      numeric(6, 5) not null,
    customer_type text          not null default 'inference'
        check (customer_type in ('inference', 'colocation')),
    load_id       bigint        not null
);
create index on raw.customers (customer_id);

create table raw.rate_cards (
    rate_card_id            text           not null,
    customer_id             text,
    gpu_model               text           not null,
    workload_type           text           not null,
    price_usd_per_gpu_hour  numeric(12, 6) not null,
    min_increment_seconds   integer        not null default 1,
    effective_from          timestamptz    not null,
    load_id                 bigint         not null
);
create index on raw.rate_cards (rate_card_id, effective_from);

create table raw.workload_events (
    event_id       text        not null,
    workload_id    text        not null,
    customer_id    text        not null,
    event_type     text        not null check (event_type in
        ('submitted', 'started', 'paused', 'resumed', 'completed', 'cancelled', 'failed')),
    event_at       timestamptz not null,
    workload_type  text,
    gpu_pool       text,
    gpus_requested integer,
    device_ids     text[],
    load_id        bigint      not null
);
create index on raw.workload_events (event_id);

create table raw.device_telemetry (
    device_id     text        not null,
    ts            timestamptz not null,
    power_kw      real,
    hashrate_ths  real,
    gpu_util_pct  real,
    temperature_c real,
    load_id       bigint      not null
);
create index on raw.device_telemetry (ts, device_id);

create table raw.site_meter (
    facility_id text        not null,
    ts          timestamptz not null,
    power_kw    numeric(14, 3) not null,
    load_id     bigint      not null
);
create index on raw.site_meter (facility_id, ts);

create table raw.demand_response_events (
    event_id            text           not null,
    facility_id         text           not null,
    start_at            timestamptz    not null,
    end_at              timestamptz    not null,
    curtail_kw          numeric(14, 3) not null,
    credit_usd_per_mwh  numeric(12, 4) not null,
    load_id             bigint         not null
);
create index on raw.demand_response_events (event_id);
