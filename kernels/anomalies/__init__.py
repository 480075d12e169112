"""Anomaly maths: telemetry features, the pyod ensemble, alert events and their scoring against
labelled faults. No I/O here."""

from kernels.anomalies.detect import EnsembleConfig, alert_events, detect, score_fleet
from kernels.anomalies.features import build_features
from kernels.anomalies.scoring import DEVICE_BEHAVIOUR_FAULTS, event_scores, merge_alerts, point_f1

__all__ = [
    "DEVICE_BEHAVIOUR_FAULTS",
    "EnsembleConfig",
    "alert_events",
    "build_features",
    "detect",
    "event_scores",
    "merge_alerts",
    "point_f1",
    "score_fleet",
]
