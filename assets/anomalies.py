"""Anomaly assets: score recent telemetry with the pyod ensemble into ml.anomalies, and score the
detector against the simulator's fault labels into ml.anomaly_metrics (shown as asset metadata).

Scored fault types: ``kernels.anomalies.DEVICE_BEHAVIOUR_FAULTS`` (overheating, hashboard_failure,
stuck_sensor, offline); late_telemetry, duplicated_telemetry and price_spike are delivery or market
events whose telemetry values are normal, so they are left out of the evaluation.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from assets import ml_queries as q
from assets.groups import ANOMALIES
from assets.resources import LandingResource, PostgresResource
from core import db
from kernels.anomalies import DEVICE_BEHAVIOUR_FAULTS, detect, event_scores

# the dbt staging models the loaders read (raw with the same dedup rule until dbt has built them)
TELEMETRY = dg.AssetKey(["staging", "stg_raw__device_telemetry"])
DEVICES = dg.AssetKey(["staging", "stg_raw__devices"])
SCORING_WINDOW = timedelta(hours=24)  # detectors learn "normal" from the last day of the fleet
BACKFILL = timedelta(days=7)  # days not scored yet (first run, scheduler down) are caught up to this far back


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


def detect_window(url: str, since=None, until=None) -> tuple[pd.DataFrame, pd.Timedelta]:
    """Alert events of the telemetry in [since, until) and the telemetry interval."""
    with db.connect(url) as conn:
        telemetry = q.load_telemetry(conn, since, until)
    if telemetry.empty:
        return pd.DataFrame(), pd.Timedelta("5min")
    telemetry["ts"] = pd.to_datetime(telemetry["ts"], utc=True).dt.tz_localize(None)
    interval = interval_of(telemetry)
    return detect(telemetry, interval), interval


def scoring_windows(latest: datetime, earliest: datetime, scored_until: datetime | None) -> list[tuple]:
    """The [since, until) windows to score, oldest first: the last day up to ``latest`` (until None:
    everything from since on), and before it whole days back to what was scored already, at most
    ``BACKFILL`` back and not before the first telemetry."""
    since = latest - SCORING_WINDOW
    windows: list[tuple] = [(since, None)]
    floor = max(earliest, latest - BACKFILL, scored_until or earliest)
    while since > floor:
        windows.append((since - SCORING_WINDOW, since))
        since -= SCORING_WINDOW
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


@dg.asset(
    key=["ml", "anomalies"],
    group_name=ANOMALIES,
    deps=[TELEMETRY, DEVICES],
    kinds={"python", "postgres"},
    description="Alert events (pyod ensemble + telemetry gaps) into ml.anomalies: the last day of telemetry, "
    "and each earlier day not scored yet (up to 7 days back), each day scored against its own normal.",
)
def anomalies(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    url = postgres.get_url()
    with db.connect(url) as conn:
        earliest, latest = q.telemetry_range(conn)
    if latest is None:
        context.log.warning("no telemetry yet")
        return dg.MaterializeResult(metadata={"alert_events": 0})
    windows = scoring_windows(latest, earliest, _scored_until(context))
    written, by_severity = 0, {}
    for i, (since, until) in enumerate(windows, 1):
        span = f"{since.astimezone(UTC):%Y-%m-%d %H:%M} to {(until or latest).astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        context.log.info(f"scoring window {i}/{len(windows)}: {span}")
        events, _ = detect_window(url, since, until)
        with db.connect(url) as conn:
            written += q.write_anomalies(conn, events)
        for severity, count in events["severity"].value_counts().items() if not events.empty else ():
            by_severity[severity] = by_severity.get(severity, 0) + int(count)
    return dg.MaterializeResult(
        metadata={
            "alert_events": written,
            "windows_scored": len(windows),
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
    events, _ = detect_window(url)
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
