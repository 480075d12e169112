-- The fitted fleet anomaly detector (kernels.anomalies.FleetDetector, pickled by assets.anomalies):
-- fitted on the last day of telemetry at most once a day, so each hourly run only scores the rows
-- that are new since the last run (issue 17: an hourly cycle costs the new hour, not the history).
-- Only the pipeline writes it (default privileges of 0015); the newest few are kept.
create table if not exists ml.anomaly_detectors (
    detector_id  bigserial   primary key,
    fitted_at    timestamptz not null default now(),
    fitted_from  timestamptz not null,
    fitted_until timestamptz not null,
    fit_rows     bigint      not null check (fit_rows >= 0),
    devices      integer     not null check (devices >= 0),
    detector     bytea       not null
);
create index if not exists anomaly_detectors_fitted on ml.anomaly_detectors (fitted_until desc);
