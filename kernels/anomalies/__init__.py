"""Anomaly maths: telemetry features, the pyod ensemble, alert events and their scoring against
labelled faults. No I/O here."""

from kernels.anomalies.detect import (
    EnsembleConfig,
    FleetDetector,
    alert_events,
    detect,
    fit_fleet,
    score_fleet,
)
from kernels.anomalies.features import Calibration, residual_features
from kernels.anomalies.scoring import DEVICE_BEHAVIOUR_FAULTS, event_scores, merge_alerts, point_f1

__all__ = [
    "DEVICE_BEHAVIOUR_FAULTS",
    "Calibration",
    "EnsembleConfig",
    "FleetDetector",
    "alert_events",
    "fit_fleet",
    "detect",
    "event_scores",
    "merge_alerts",
    "point_f1",
    "residual_features",
    "score_fleet",
]
