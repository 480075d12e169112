"""Scoring alerts against labelled fault windows, counted per event (NAB-style).

Alerts closer together than ``gap`` (per device) form one alert event. A fault is found when an
alert event of its device overlaps its window; an alert event that overlaps no window is one false
positive. precision = found / (found + false positives), recall = found / faults.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Fault types the detector is scored on: the device-behaviour faults. late_telemetry and
# duplicated_telemetry are delivery faults (ingestion deals with them, the telemetry values are
# normal) and price_spike is a market event, so none of those is a device anomaly.
DEVICE_BEHAVIOUR_FAULTS = ("overheating", "hashboard_failure", "stuck_sensor", "offline")


def merge_alerts(alerts: pd.DataFrame, gap: pd.Timedelta = pd.Timedelta("1h")) -> pd.DataFrame:
    """Alert events: rows (``start``, ``end``, optional ``device_id``) merged per device when the
    next alert starts less than ``gap`` after the previous event ends."""
    if alerts.empty:
        return pd.DataFrame(columns=["device_id", "start", "end"])
    frame = alerts.copy()
    if "device_id" not in frame:
        frame["device_id"] = ""
    frame = frame.sort_values(["device_id", "start"])
    merged = []
    for device, group in frame.groupby("device_id", sort=False):
        cur_start, cur_end = None, None
        for start, end in zip(group["start"], group["end"], strict=True):
            if cur_end is not None and start - cur_end < gap:
                cur_end = max(cur_end, end)
                continue
            if cur_start is not None:
                merged.append((device, cur_start, cur_end))
            cur_start, cur_end = start, end
        merged.append((device, cur_start, cur_end))
    return pd.DataFrame(merged, columns=["device_id", "start", "end"])


def event_scores(
    alerts: pd.DataFrame, labels: pd.DataFrame, gap: pd.Timedelta = pd.Timedelta("1h")
) -> dict[str, float]:
    """Event-level precision, recall and F1 plus counts (faults, faults_found, alert_events,
    false_positives, gap_minutes). Frames have ``start`` and ``end`` (and ``device_id`` to match
    per device; without it every alert may match every window)."""
    events = merge_alerts(alerts, gap)
    labels = labels.copy()
    if "device_id" not in labels:
        labels["device_id"] = ""
    labels["device_id"] = labels["device_id"].fillna("")
    found = np.zeros(len(labels), bool)
    false_positives = 0
    for event in events.itertuples(index=False):
        hit = (
            (labels["device_id"].to_numpy() == event.device_id)
            & (labels["start"].to_numpy() <= np.datetime64(event.end))
            & (labels["end"].to_numpy() >= np.datetime64(event.start))
        )
        found |= hit
        false_positives += int(not hit.any())
    tp = int(found.sum())
    precision = tp / (tp + false_positives) if tp + false_positives else 0.0
    recall = tp / len(labels) if len(labels) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "faults": len(labels),
        "faults_found": tp,
        "alert_events": len(events),
        "false_positives": false_positives,
        "gap_minutes": gap / pd.Timedelta("1min"),
    }


def point_f1(times: pd.Series, flagged: np.ndarray, labels: pd.DataFrame) -> float:
    """Point-level F1: each timestamp is anomalous when inside a label window, predicted when flagged."""
    t = pd.to_datetime(times).to_numpy()
    truth = np.zeros(len(t), bool)
    for row in labels.itertuples(index=False):
        truth |= (t >= np.datetime64(row.start)) & (t <= np.datetime64(row.end))
    flagged = np.asarray(flagged, bool)
    tp = int((truth & flagged).sum())
    if tp == 0:
        return 0.0
    precision, recall = tp / flagged.sum(), tp / truth.sum()
    return float(2 * precision * recall / (precision + recall))
