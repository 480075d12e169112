"""Anomaly maths: telemetry features, the pyod ensemble, alert events and their scoring against
labelled faults; the causal detector for univariate series (``streaming``) and its event scoring on
labelled windows (``evaluation``). No I/O here.

Exports load lazily (``kernels._lazy``): pyod, numba and scipy are imported when first used."""

from typing import TYPE_CHECKING

from kernels._lazy import attach

if TYPE_CHECKING:
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
    from kernels.anomalies.streaming import StreamConfig, detect_stream, series_alerts

__all__ = [
    "Calibration",
    "DEVICE_BEHAVIOUR_FAULTS",
    "EnsembleConfig",
    "FleetDetector",
    "StreamConfig",
    "alert_events",
    "detect",
    "detect_stream",
    "event_scores",
    "fit_fleet",
    "merge_alerts",
    "point_f1",
    "residual_features",
    "score_fleet",
    "series_alerts",
    "series_metrics",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "detect": ("EnsembleConfig", "FleetDetector", "alert_events", "detect", "fit_fleet", "score_fleet"),
        "evaluation": ("series_metrics",),
        "features": ("Calibration", "residual_features"),
        "scoring": ("DEVICE_BEHAVIOUR_FAULTS", "event_scores", "merge_alerts", "point_f1"),
        "streaming": ("StreamConfig", "detect_stream", "series_alerts"),
    },
)
