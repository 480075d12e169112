"""Ensemble anomaly detection with pyod: Isolation Forest, One-Class SVM, LOF and ECOD.

Each detector is fitted on a model's (or a single series') feature rows, its scores are turned into
robust z-scores against its own training scores (median and MAD), and the combined score is their
mean. Points at or above ``INFO`` are flagged; consecutive flagged points of a device form an alert
event whose severity comes from its peak score. Events shorter than ``min_points`` are dropped: a
single odd reading is noise, a fault persists.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kernels.anomalies.features import FEATURES, GPU_FEATURES, METRIC_OF

DETECTOR = "ensemble(iforest,ocsvm,lof,ecod)"
# combined robust-z thresholds of the severities
INFO, WARNING, CRITICAL = 8.0, 15.0, 30.0


@dataclass
class EnsembleConfig:
    """Tunables of the ensemble; the defaults are set on simulated fleets (see tests/ml)."""

    fit_rows: int = 1500  # OCSVM and LOF cost grows fast with rows: fit on a sample
    trim_z: float = 6.0  # training rows with a feature beyond this robust z are left out
    n_estimators: int = 100
    n_neighbors: int = 20
    nu: float = 0.02
    info: float = INFO
    warning: float = WARNING
    critical: float = CRITICAL
    min_points: int = 2
    seed: int = 0


@dataclass
class FittedEnsemble:
    """Fitted detectors of one feature space, with the scaling of their inputs and outputs."""

    columns: list[str]
    center: np.ndarray
    scale: np.ndarray
    detectors: dict = field(default_factory=dict)
    score_stats: dict = field(default_factory=dict)

    def feature_z(self, frame: pd.DataFrame) -> np.ndarray:
        """Robust z-scores of the features (rows x columns)."""
        return (frame[self.columns].to_numpy(float) - self.center) / self.scale

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Combined score per row: the mean of the detectors' robust z-scores (higher = odder)."""
        x = np.clip(self.feature_z(frame), -50, 50)
        zs = []
        for name, det in self.detectors.items():
            med, mad = self.score_stats[name]
            zs.append(np.clip((det.decision_function(x) - med) / mad, -10, 100))
        return np.mean(zs, axis=0)


def fit_ensemble(
    frame: pd.DataFrame, columns: list[str], config: EnsembleConfig | None = None
) -> FittedEnsemble:
    """Fit the four pyod detectors on ``frame[columns]`` (robustly standardized first)."""
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.lof import LOF
    from pyod.models.ocsvm import OCSVM

    config = config or EnsembleConfig()
    raw = frame[columns].to_numpy(float)
    center = np.median(raw, axis=0)
    # scale floor: a feature that never moves in training must not turn noise into infinity
    spread = np.quantile(raw, 0.75, axis=0) - np.quantile(raw, 0.25, axis=0)
    floor = np.maximum(0.5 * np.std(raw, axis=0), np.maximum(np.abs(center) * 0.01, 1e-3))
    scale = np.maximum(spread / 1.349, floor)
    fitted = FittedEnsemble(columns, center, scale)
    x = np.clip(fitted.feature_z(frame), -50, 50)
    # learn "normal" from rows with no extreme feature: a faulty device that spends hours in the
    # same odd state would otherwise form a dense cluster that LOF and OCSVM accept as normal
    clean = (np.abs(x) < config.trim_z).all(axis=1)
    if clean.sum() >= max(50, len(x) // 2):
        x = x[clean]
    rng = np.random.default_rng(config.seed)
    sample = x[rng.choice(len(x), min(len(x), config.fit_rows), replace=False)]
    big = x[rng.choice(len(x), min(len(x), 5 * config.fit_rows), replace=False)]
    detectors = {
        "iforest": (IForest(n_estimators=config.n_estimators, random_state=config.seed), big),
        "ocsvm": (OCSVM(nu=config.nu, gamma="scale"), sample),
        "lof": (LOF(n_neighbors=min(config.n_neighbors, len(sample) - 1), novelty=True), sample),
        "ecod": (ECOD(), big),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyod warns about contamination defaults we do not use
        for name, (det, data) in detectors.items():
            det.fit(data)
            train_scores = det.decision_function(data)
            med = float(np.median(train_scores))
            mad = float(np.median(np.abs(train_scores - med)) * 1.4826) or float(np.std(train_scores)) or 1.0
            fitted.detectors[name] = det
            fitted.score_stats[name] = (med, mad)
    return fitted


def severity(score: float, config: EnsembleConfig | None = None) -> str | None:
    """'critical', 'warning', 'info' or None for a combined score."""
    config = config or EnsembleConfig()
    if score >= config.critical:
        return "critical"
    if score >= config.warning:
        return "warning"
    if score >= config.info:
        return "info"
    return None


def score_fleet(
    features: pd.DataFrame, config: EnsembleConfig | None = None, models: dict | None = None
) -> tuple[pd.DataFrame, dict]:
    """Score every row of ``build_features`` output, one ensemble per device model (fitted here
    unless ``models`` holds one); returns the frame with ``score``, ``flagged``, ``top_feature``
    and the ensembles used (to score later rows without refitting)."""
    config = config or EnsembleConfig()
    models = dict(models or {})
    out = features.copy()
    out["score"] = 0.0
    out["top_feature"] = ""
    for model, idx in out[out["running"]].groupby("model").groups.items():
        part = out.loc[idx]
        if model not in models:
            if len(part) < 50:
                continue  # too few rows to learn what normal looks like
            columns = list(GPU_FEATURES if part["kind"].iloc[0] == "gpu" else FEATURES)
            models[model] = fit_ensemble(part, columns, config)
        ens = models[model]
        out.loc[idx, "score"] = ens.score(part)
        z = np.abs(ens.feature_z(part))
        out.loc[idx, "top_feature"] = np.array(ens.columns)[z.argmax(axis=1)]
    out["flagged"] = out["running"] & (out["score"] >= config.info)
    return out, models


def _explain(event: pd.DataFrame, device: pd.DataFrame, kind: str) -> tuple[str, str]:
    """(metric, sentence) for one alert event, comparing it with the device's normal rows."""
    normal = device[~device["flagged"] & device["running"]]
    if normal.empty:
        normal = device
    base_power = normal["power_kw"].median()
    base_perf = normal["perf"].median()
    power, perf = event["power_kw"].median(), event["perf"].median()
    perf_name = "hashrate" if kind == "asic" else "GPU utilization"
    power_change = power / base_power - 1 if base_power else 0.0
    perf_change = perf / base_perf - 1 if base_perf else 0.0
    minutes = (event["ts"].max() - event["ts"].min()) / pd.Timedelta("1min")
    if base_power and power < 0.1 * base_power:
        return "power", f"device offline: power {power:.2f} kW (normally {base_power:.2f} kW)"
    if perf_change < -0.1 and abs(power_change) < 0.05:
        return perf_name, f"{perf_name} down {-perf_change:.0%} at constant power"
    if perf_change < -0.1:
        return perf_name, f"{perf_name} down {-perf_change:.0%}, power {power_change:+.0%}"
    temp_dev = event["temp_above_ambient"].median() - normal["temp_above_ambient"].median()
    if temp_dev > 5 or event["temp_resid"].median() > 5:
        return "temperature", (
            f"temperature {event['temp_above_ambient'].median():.1f} C above facility median "
            f"(normally {normal['temp_above_ambient'].median():.1f} C)"
        )
    if event["temp_flatness"].max() > normal["temp_flatness"].max() + 0.5:
        return "temperature", (
            f"temperature reading constant at {event['temperature_c'].median():.1f} C for {minutes:.0f} min "
            "(stuck sensor?)"
        )
    top = event["top_feature"].mode().iloc[0]
    return METRIC_OF.get(
        top, top
    ), f"unusual {top.replace('_', ' ')} (power {power_change:+.0%}, {perf_name} {perf_change:+.0%})"


def alert_events(
    scored: pd.DataFrame, interval: pd.Timedelta, config: EnsembleConfig | None = None
) -> pd.DataFrame:
    """Alert events from ``score_fleet`` output: device_id, device_model, start_at, end_at (end of
    the last flagged interval), metric, score (peak), severity, detector, explanation."""
    config = config or EnsembleConfig()
    rows = []
    groups = scored.groupby("device_id", sort=False) if not scored.empty else []
    for device_id, device in groups:
        flagged = device["flagged"].to_numpy()
        if not flagged.any():
            continue
        # runs of flagged rows, allowing one quiet interval inside a run
        times = device["ts"].to_numpy()
        idx = np.flatnonzero(flagged)
        breaks = np.flatnonzero(np.diff(times[idx]) > np.timedelta64(2 * interval))
        for run in np.split(idx, breaks + 1):
            if len(run) < config.min_points:
                continue
            event = device.iloc[run]
            peak = float(event["score"].max())
            metric, text = _explain(event, device, device["kind"].iloc[0])
            rows.append(
                {
                    "device_id": device_id,
                    "device_model": device["model"].iloc[0],
                    "start_at": event["ts"].min(),
                    "end_at": event["ts"].max() + interval,
                    "metric": metric,
                    "score": peak,
                    "severity": severity(peak, config) or "info",
                    "detector": DETECTOR,
                    "explanation": text,
                }
            )
    columns = [
        "device_id",
        "device_model",
        "start_at",
        "end_at",
        "metric",
        "score",
        "severity",
        "detector",
        "explanation",
    ]
    return pd.DataFrame(rows, columns=columns)


def telemetry_gaps(
    telemetry: pd.DataFrame, interval: pd.Timedelta, min_missing: int = 3, until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Alert events for devices that stopped reporting: ``min_missing`` or more intervals without a
    row while the rest of the fleet reported (the simulator's and a real fleet's "offline").
    Same columns as ``alert_events``; detector ``gap``."""
    rows = []
    fleet_times = np.sort(telemetry["ts"].unique())
    end = until if until is not None else (fleet_times[-1] if len(fleet_times) else None)
    for device_id, device in telemetry.groupby("device_id", sort=False):
        times = np.sort(device["ts"].to_numpy())
        # a trailing silence counts too: the device's next expected row is missing
        edges = np.append(times, np.datetime64(end) + np.timedelta64(interval)) if end is not None else times
        gaps = np.diff(edges)
        for i in np.flatnonzero(gaps >= np.timedelta64(interval * (min_missing + 1))):
            start = pd.Timestamp(edges[i]) + interval
            stop = pd.Timestamp(edges[i + 1])
            minutes = (stop - start) / pd.Timedelta("1min")
            rows.append(
                {
                    "device_id": device_id,
                    "device_model": device["model"].iloc[0],
                    "start_at": start,
                    "end_at": stop,
                    "metric": "telemetry",
                    "score": float(minutes / (interval / pd.Timedelta("1min"))),
                    "severity": "critical" if minutes >= 60 else "warning",
                    "detector": "gap",
                    "explanation": f"device offline: no telemetry for {minutes:.0f} min",
                }
            )
    return pd.DataFrame(rows, columns=list(alert_events(pd.DataFrame(), interval).columns))


def detect(
    telemetry: pd.DataFrame, interval: pd.Timedelta, config: EnsembleConfig | None = None
) -> pd.DataFrame:
    """Alert events for a telemetry frame: the ensemble's events (see ``alert_events``) and the
    telemetry gaps (``telemetry_gaps``), ordered by device and start."""
    from kernels.anomalies.features import build_features

    scored, _ = score_fleet(build_features(telemetry), config)
    events = pd.concat([alert_events(scored, interval, config), telemetry_gaps(telemetry, interval)])
    return events.sort_values(["device_id", "start_at"]).reset_index(drop=True)
