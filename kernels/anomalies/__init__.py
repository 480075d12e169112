"""Anomaly maths: telemetry features, the pyod ensemble, alert events and their scoring against
labelled faults; the causal detector for univariate series (``streaming``) and its event scoring on
labelled windows (``evaluation``). No I/O here."""

from kernels.anomalies.detect import (
    EnsembleConfig,
    FleetDetector,
    alert_events,
    detect,
    fit_fleet,
    score_fleet,
)
from kernels.anomalies.evaluation import series_metrics
from kernels.anomalies.features import Calibration, residual_features
from kernels.anomalies.scoring import DEVICE_BEHAVIOUR_FAULTS, event_scores, merge_alerts, point_f1
from kernels.anomalies.streaming import StreamConfig, detect_stream

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
    "series_metrics",
    "StreamConfig",
    "detect_stream",
]
