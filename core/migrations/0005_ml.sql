-- ML outputs: forecasts and their backtests, the model registry, anomalies and their scores
-- against labelled faults; plus the operations audit log (shared; created here if nobody has).

create table if not exists ml.models (
    model_id     bigserial   primary key,
    series       text        not null,
    version      integer     not null,
    name         text        not null,
    kind         text        not null,
    parameters   jsonb       not null default '{}',
    train_start  timestamptz,
    train_end    timestamptz,
    metrics      jsonb       not null default '{}',
    status       text        not null check (status in ('champion', 'challenger', 'retired')),
    created_at   timestamptz not null default now(),
    unique (series, version)
);
-- at most one champion per series
create unique index if not exists models_one_champion on ml.models (series) where status = 'champion';

create table if not exists ml.forecasts (
    series         text             not null,
    model_version  integer          not null,
    model_name     text             not null,
    issued_at      timestamptz      not null,
    target_at      timestamptz      not null,
    yhat           double precision not null,
    yhat_lower     double precision,
    yhat_upper     double precision,
    primary key (series, issued_at, model_version, target_at)
);
create index if not exists forecasts_target on ml.forecasts (series, target_at);

create table if not exists ml.forecast_metrics (
    metric_id      bigserial        primary key,
    series         text             not null,
    model_name     text             not null,
    model_version  integer,
    evaluated_at   timestamptz      not null default now(),
    horizon_steps  integer          not null,
    folds          integer          not null,
    mape           double precision,
    smape          double precision,
    mae            double precision,
    mase           double precision,
    seconds        double precision,
    is_champion    boolean          not null default false
);
create index if not exists forecast_metrics_series on ml.forecast_metrics (series, evaluated_at);

create table if not exists ml.anomalies (
    anomaly_id    bigserial        primary key,
    device_id     text             not null,
    device_model  text,
    start_at      timestamptz      not null,
    end_at        timestamptz      not null,
    metric        text             not null,
    score         double precision not null,
    severity      text             not null check (severity in ('info', 'warning', 'critical')),
    detector      text             not null,
    explanation   text             not null,
    detected_at   timestamptz      not null default now(),
    unique (device_id, start_at, detector)
);
create index if not exists anomalies_time on ml.anomalies (start_at, end_at);

create table if not exists ml.anomaly_metrics (
    metric_id           bigserial        primary key,
    evaluated_at        timestamptz      not null default now(),
    scope               text             not null,
    fault_types         text[]           not null,
    gap_minutes         integer          not null,
    faults              integer          not null,
    faults_found        integer          not null,
    alert_events        integer          not null,
    false_positives     integer          not null,
    precision           double precision,
    recall              double precision,
    f1                  double precision,
    point_f1            double precision
);

-- The latest forecast of each series' current champion: what the allocation plan reads.
create or replace view ml.champion_forecasts as
select f.series, f.model_version, f.model_name, f.issued_at, f.target_at, f.yhat, f.yhat_lower, f.yhat_upper
from ml.forecasts as f
inner join ml.models as m
    on m.series = f.series and m.version = f.model_version and m.status = 'champion'
where f.issued_at = (
    select max(f2.issued_at) from ml.forecasts as f2
    where f2.series = f.series and f2.model_version = f.model_version
);

create table if not exists ops.audit_log (
    audit_id  bigserial   primary key,
    actor     text        not null,
    action    text        not null,
    entity    text        not null,
    before    jsonb,
    after     jsonb,
    at        timestamptz not null default now()
);
