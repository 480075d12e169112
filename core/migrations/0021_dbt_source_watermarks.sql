-- How far each incremental dbt model has read a raw table that revises the past (real-time prices
-- landing after the day's telemetry): loads finished after `read_until` are new to the model, and
-- its next incremental run reaches back to the oldest interval they carry (macros/incremental_window.sql).
create table ops.dbt_source_watermarks (
    model      text        not null,
    source     text        not null,
    read_until timestamptz not null,
    primary key (model, source)
);

-- the loads since a watermark, then their rows
create index on raw.load_log (finished_at);
create index on raw.energy_prices (load_id);
