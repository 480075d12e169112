"""Anomaly assets: score recent telemetry with the pyod ensemble into ml.anomalies, and score the
detector against the simulator's fault labels into ml.anomaly_metrics (shown as asset metadata).

Scored fault types: ``kernels.anomalies.DEVICE_BEHAVIOUR_FAULTS`` (overheating, hashboard_failure,
stuck_sensor, offline); late_telemetry, duplicated_telemetry and price_spike are delivery or market
events whose telemetry values are normal, so they are left out of the evaluation.
"""

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from assets import ml_queries as q
from assets.groups import ANOMALIES
from assets.resources import LandingResource, PostgresResource
from core import db
from core.settings import Settings, get_settings
from kernels.anomalies import DEVICE_BEHAVIOUR_FAULTS, FleetDetector, detect, event_scores, fit_fleet

# the dbt staging models the loaders read (raw with the same dedup rule until dbt has built them)
TELEMETRY = dg.AssetKey(["staging", "stg_raw__device_telemetry"])
DEVICES = dg.AssetKey(["staging", "stg_raw__devices"])
SCORING_WINDOW = timedelta(hours=24)  # the longest window one read scores
# days not scored yet (first run, scheduler down) are caught up to this far back (HCP_ANOMALY_BACKFILL_HOURS)
BACKFILL = timedelta(hours=Settings.model_fields["anomaly_backfill_hours"].default)
REFIT = timedelta(hours=24)  # the detector learns "normal" from the last day, refitted once a day
# rows before a window that its read includes: persistence (4 intervals), a stuck sensor (90 min)
# and telemetry gaps need what came just before the new rows
LEAD_IN = timedelta(hours=2)
FIT_MAX_ROWS = 2_000_000  # a bigger fleet's day is sampled by whole intervals for the fit


def read_fault_labels(path: Path, fault_types: tuple[str, ...] = DEVICE_BEHAVIOUR_FAULTS) -> pd.DataFrame:
    """Fault windows from labels/faults.csv (device_id, fault_type, start, end; UTC, naive) of the
    given types; an empty frame when the file is absent."""
    if not path.is_file():
        return pd.DataFrame(columns=["device_id", "fault_type", "start", "end"])
    labels = pd.read_csv(path)
    labels = labels[labels["fault_type"].isin(fault_types)]
    return pd.DataFrame(
        {
            "device_id": labels["device_id"].fillna("").astype(str),
            "fault_type": labels["fault_type"],
            "start": pd.to_datetime(labels["start_at"], utc=True).dt.tz_localize(None),
            "end": pd.to_datetime(labels["end_at"], utc=True).dt.tz_localize(None),
        }
    )


def telemetry_from_landing(folder: Path, last_days: int | None = None) -> pd.DataFrame:
    """Telemetry of a landing folder read straight from its files (miner JSON lines, DCGM text),
    joined to reference/devices.csv: the ``load_telemetry`` columns, without a database (only the
    last ``last_days`` daily files when given). Rows
    repeated across files (late or duplicated deliveries) are kept once, as staging does."""
    from ingestion.formats.dcgm import read_dcgm
    from ingestion.formats.jsonlines import read_miner

    def files(pattern: str) -> list[Path]:
        found = sorted(folder.glob(pattern))
        return found[-last_days:] if last_days else found

    parts = [read_miner(p).frame for p in files("telemetry/miner/*.jsonl")]
    parts += [read_dcgm(p).frame for p in files("telemetry/dcgm/*.prom")]
    if not parts:
        return pd.DataFrame()
    telemetry = pd.concat(parts, ignore_index=True).drop(columns=["_line"], errors="ignore")
    telemetry["ts"] = pd.to_datetime(telemetry["ts"], utc=True).dt.tz_localize(None)
    telemetry = telemetry.drop_duplicates(["device_id", "ts"], keep="last")
    devices = pd.read_csv(folder / "reference" / "devices.csv")[["device_id", "facility_id", "kind", "model"]]
    return telemetry.merge(devices, on="device_id").sort_values(["device_id", "ts"]).reset_index(drop=True)


def interval_of(telemetry: pd.DataFrame) -> pd.Timedelta:
    """The telemetry interval: the most common spacing of one device's rows."""
    steps = telemetry.groupby("device_id")["ts"].diff().dropna()
    return steps.mode().iloc[0] if not steps.empty else pd.Timedelta("5min")


def _naive(frame: pd.DataFrame) -> pd.DataFrame:
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None)
    return frame


def detect_window(
    url: str,
    since=None,
    until=None,
    detector: FleetDetector | None = None,
    facilities: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.Timedelta, int]:
    """Alert events of the telemetry in [since, until) (of ``facilities`` only, when given), the
    telemetry interval and the rows read; scored with ``detector`` when given (nothing refitted),
    else with one fitted on those rows."""
    with db.connect(url) as conn:
        telemetry = q.load_telemetry(conn, since, until, facilities=facilities)
    if telemetry.empty:
        return pd.DataFrame(), pd.Timedelta("5min"), 0
    telemetry = _naive(telemetry)
    interval = interval_of(telemetry)
    return detect(telemetry, interval, detector=detector), interval, len(telemetry)


def fit_stride(devices: int, intervals: int, max_rows: int = FIT_MAX_ROWS) -> int:
    """Keep every stride-th interval of the fit's day so that ``devices`` x kept intervals <= max_rows."""
    stride = 1
    while devices * -(-intervals // stride) > max_rows and stride < intervals:
        stride += 1
    return stride


def scoring_windows(
    latest: datetime,
    earliest: datetime,
    scored_until: datetime | None,
    chunk: timedelta = SCORING_WINDOW,
    backfill: timedelta = BACKFILL,
) -> list[tuple]:
    """The [since, until) windows to score, oldest first, covering what is new: from the last run's
    newest row (``scored_until``) to ``latest`` (the last window is open: until None), or on a first
    run or after a long outage up to ``backfill`` back and not before the first telemetry; a window
    spans at most ``chunk``. Each window is read with ``LEAD_IN`` before it."""
    floor = max(earliest, latest - backfill)
    start = scored_until if scored_until is not None and scored_until >= floor else floor
    windows: list[tuple] = []
    until = None
    since = latest - chunk
    while since > start:
        windows.append((since, until))
        until, since = since, since - chunk
    windows.append((min(start, latest), until))
    return windows[::-1]


def _scored_until(context: dg.AssetExecutionContext) -> datetime | None:
    """The newest telemetry time this asset scored, from its last materialization's metadata."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    value = (
        event.asset_materialization.metadata.get("scored_until")
        if event and event.asset_materialization
        else None
    )
    return datetime.fromtimestamp(value.value, UTC) if value is not None else None


def _fleet_detector(
    context: dg.AssetExecutionContext, url: str, latest: datetime, devices: int, interval: timedelta
) -> tuple[FleetDetector, bool]:
    """The stored detector while it is younger than ``REFIT``, else one fitted now on the last day
    (sampled by whole intervals down to ``FIT_MAX_ROWS`` rows) and stored; (detector, fitted now)."""
    with db.connect(url) as conn:
        stored = q.latest_detector(conn)
    if stored is not None and latest - stored[0] < REFIT:
        try:
            return pickle.loads(stored[1]), False  # written only by this asset as the pipeline role
        except Exception as error:  # noqa: BLE001 - stored by other library versions (an upgrade): refit
            context.log.warning(f"the stored fleet detector cannot be read ({error!r}): refitting")
    since = latest - REFIT
    stride = fit_stride(devices, int(REFIT / interval))
    with db.connect(url) as conn:
        telemetry = _naive(q.load_telemetry(conn, since, None, stride=stride, interval=interval))
    context.log.info(
        f"fitting the fleet detector on {len(telemetry):,} rows (every {stride}. interval of a day)"
    )
    detector, _ = fit_fleet(telemetry)
    with db.connect(url) as conn:
        q.save_detector(conn, pickle.dumps(detector), since, latest, len(telemetry), devices)
    return detector, True


def _chunk(devices: int, interval: timedelta, max_rows: int) -> timedelta:
    """The longest window (whole hours, at least one, at most a day) whose rows and those of its
    lead-in stay under ``max_rows``."""
    per_hour = devices * int(timedelta(hours=1) / interval)
    hours = max_rows // max(1, per_hour) - LEAD_IN // timedelta(hours=1)
    return timedelta(hours=int(min(max(hours, 1), SCORING_WINDOW / timedelta(hours=1))))


def facility_batches(
    devices: dict[str, int], chunk: timedelta, interval: timedelta, max_rows: int
) -> list[list[str] | None]:
    """The facilities scored together in one read: ``[None]`` (the whole fleet at once) when its rows
    of a window and its lead-in fit under ``max_rows``, else whole facilities packed in order under
    it. A facility is never split: its devices are compared with each other at each moment (the
    residuals), so scoring it whole gives the same events as scoring the fleet at once."""
    rows_per_device = int((chunk + LEAD_IN) / interval)
    if sum(devices.values()) * rows_per_device <= max_rows:
        return [None]
    batches: list[list[str]] = []
    rows = 0
    for facility, count in devices.items():
        if batches and rows + count * rows_per_device <= max_rows:
            batches[-1].append(facility)
            rows += count * rows_per_device
        else:
            batches.append([facility])
            rows = count * rows_per_device
    return batches


@dg.asset(
    key=["ml", "anomalies"],
    group_name=ANOMALIES,
    deps=[TELEMETRY, DEVICES],
    kinds={"python", "postgres"},
    description="Alert events (pyod ensemble + telemetry gaps) into ml.anomalies: the telemetry new since the "
    "last run (on a first run up to 7 days back), scored with the fleet detector, which is refitted on "
    "the last day once a day.",
)
def anomalies(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    url = postgres.get_url()
    with db.connect(url) as conn:
        earliest, latest = q.telemetry_range(conn)
        devices_at = q.devices_by_facility(conn)
    devices = sum(devices_at.values())
    if latest is None:
        context.log.warning("no telemetry yet")
        return dg.MaterializeResult(metadata={"alert_events": 0})
    with db.connect(url) as conn:
        interval = q.telemetry_interval(conn, latest)
    detector, fitted = _fleet_detector(context, url, latest, devices, interval)
    # the rows one read holds, lead-in included (HCP_ANOMALY_SCORE_MAX_ROWS): a bigger fleet is scored
    # a few hours at a time, and one whose hour and lead-in are over it facility by facility (300,000
    # devices at 5 minutes: 10.8 M rows, ~11 GB in one read)
    max_rows = get_settings().anomaly_score_max_rows
    chunk = _chunk(devices, interval, max_rows)
    backfill = timedelta(hours=get_settings().anomaly_backfill_hours)
    windows = scoring_windows(latest, earliest, _scored_until(context), chunk, backfill)
    batches = facility_batches(devices_at, chunk, interval, max_rows)
    written, rows, by_severity = 0, 0, {}
    for i, (since, until) in enumerate(windows, 1):
        span = f"{since.astimezone(UTC):%Y-%m-%d %H:%M} to {(until or latest).astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        for batch in batches:
            part = "" if batch is None else f", facilities {', '.join(batch)}"
            context.log.info(f"scoring window {i}/{len(windows)}: {span}{part}")
            events, _, read = detect_window(url, since - LEAD_IN, until, detector, batch)
            rows += read
            if not events.empty:  # events that ended inside the lead-in were written by an earlier run
                events = events[events["end_at"] > pd.Timestamp(since).tz_convert(None)]
            with db.connect(url) as conn:
                written += q.write_anomalies(conn, events)
            for severity, count in events["severity"].value_counts().items() if not events.empty else ():
                by_severity[severity] = by_severity.get(severity, 0) + int(count)
    return dg.MaterializeResult(
        metadata={
            "alert_events": written,
            "windows_scored": len(windows),
            "facility_batches": len(batches),
            "rows_scored": rows,
            "detector_fitted": fitted,
            "scored_from": dg.MetadataValue.timestamp(windows[0][0]),
            "scored_until": dg.MetadataValue.timestamp(latest),
            **{f"severity_{k}": v for k, v in by_severity.items()},
        }
    )


@dg.asset(
    key=["ml", "anomaly_metrics"],
    group_name=ANOMALIES,
    deps=[TELEMETRY, DEVICES],
    kinds={"python", "postgres"},
    description="Event-level precision/recall/F1 of the detector on all telemetry against labels/faults.csv.",
)
def anomaly_metrics(
    context: dg.AssetExecutionContext, postgres: PostgresResource, landing: LandingResource
) -> dg.MaterializeResult:
    labels = read_fault_labels(landing.path() / "labels" / "faults.csv")
    if labels.empty:
        context.log.warning("no fault labels in the landing folder: nothing to score against")
        return dg.MaterializeResult(metadata={"faults": 0})
    url = postgres.get_url()
    events, _, _ = detect_window(url)
    alerts = events.rename(columns={"start_at": "start", "end_at": "end"})[["device_id", "start", "end"]]
    scores = event_scores(alerts, labels)
    with db.connect(url) as conn:
        q.write_anomaly_metrics(conn, "simulator_labels", list(DEVICE_BEHAVIOUR_FAULTS), scores)
    per_type = {
        f"recall_{kind}": event_scores(alerts, labels[labels["fault_type"] == kind])["recall"]
        for kind in labels["fault_type"].unique()
    }
    return dg.MaterializeResult(
        metadata={
            **{k: float(v) for k, v in scores.items()},
            **per_type,
            "fault_types": ", ".join(DEVICE_BEHAVIOUR_FAULTS),
        }
    )


anomaly_assets = [anomalies, anomaly_metrics]
anomalies_job = dg.define_asset_job("ml_anomalies_hourly", selection=dg.AssetSelection.assets(anomalies))
defs = dg.Definitions(
    assets=anomaly_assets,
    jobs=[anomalies_job],  # anomalies follow telemetry (orchestration.automation); the job is manual
)
