"""Anomaly detection on telemetry: pyod ensembles (Isolation Forest, One-Class SVM, LOF, ECOD) on
residual features, plus two explicit rules.

Fleet telemetry (``detect``, ``fit_fleet``, ``score_rows``): the detectors see robust z-scores of
residuals from what a device's model should read (``kernels.anomalies.features``), never raw
utilization, so workload swings are normal. One ensemble per device kind; each detector's score is
turned into a robust z against its training scores and the four are averaged. A point is flagged
when the combined score passes the kind's threshold (its ``1 - contamination`` quantile on clean
training rows) *and* a residual is at least ``gate_z`` robust sds out; flags must persist
(``persist_k`` of ``persist_n`` consecutive intervals) before they alert. Rules: a temperature
reading frozen for ``stuck_minutes`` (stuck sensor) and missing rows (``telemetry_gaps``: offline).
Consecutive flagged points of a device form an alert event with a severity and an explanation.

A single series (``fit_ensemble`` on any feature frame) is what ``hcp eval anomalies`` uses.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kernels.anomalies.features import KIND_FEATURES, Calibration, residual_features

DETECTOR = "ensemble(iforest,ocsvm,lof,ecod)"
STUCK = "rule(stuck_sensor)"
EVENT_COLUMNS = [
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
    contamination: float = 0.002  # share of training rows above the fleet detector's threshold
    gate_z: float = 5.0  # a flagged point has a residual at least this many robust sds out
    persist_k: int = 3  # flags needed within ...
    persist_n: int = 4  # ... this many consecutive intervals
    stuck_minutes: float = 90.0  # an unchanged temperature reading for this long is a stuck sensor


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


@dataclass
class FleetDetector:
    """Everything fitted on history: the residual calibration, one ensemble per device kind on the
    residual z-scores, and each ensemble's alert threshold (calibrated on its training scores)."""

    calibration: Calibration
    ensembles: dict = field(default_factory=dict)  # kind -> FittedEnsemble
    thresholds: dict = field(default_factory=dict)  # kind -> combined score at the alert level
    config: EnsembleConfig = field(default_factory=EnsembleConfig)


def fit_fleet(
    telemetry: pd.DataFrame, config: EnsembleConfig | None = None
) -> tuple[FleetDetector, pd.DataFrame]:
    """Fit the calibration and the per-kind ensembles on ``telemetry``; returns the detector and the
    residual features of those rows."""
    config = config or EnsembleConfig()
    features, cal = residual_features(telemetry)
    detector = FleetDetector(cal, config=config)
    for kind, part in features[features["running"]].groupby("kind"):
        if len(part) < 50:
            continue  # too few rows to learn what normal looks like
        ens = fit_ensemble(part, list(KIND_FEATURES.get(kind, KIND_FEATURES["asic"])), config)
        detector.ensembles[kind] = ens
        # the threshold comes from rows with no residual past the gate: faults in the history
        # must not lift the bar they are measured against
        clean = part[(np.abs(part[ens.columns].to_numpy(float)) < config.gate_z).all(axis=1)]
        pool = clean if len(clean) >= 50 else part
        sample = pool.sample(min(len(pool), 20_000), random_state=config.seed)
        level = float(np.quantile(ens.score(sample), 1 - config.contamination))
        detector.thresholds[kind] = max(config.info, level)
    return detector, features


def score_rows(features: pd.DataFrame, detector: FleetDetector) -> pd.DataFrame:
    """``features`` (from ``residual_features``) with ``score``, ``top_feature`` and ``flagged``:
    a point is flagged when the ensemble score passes its kind's threshold and a residual is at
    least ``gate_z`` robust sds out, or the temperature has not moved for ``stuck_minutes``;
    flags then need ``persist_k`` of ``persist_n`` consecutive intervals of the device."""
    config = detector.config
    out = features.copy()
    out["score"], out["top_feature"], out["point"] = 0.0, "", False
    for kind, idx in out[out["running"]].groupby("kind").groups.items():
        ens = detector.ensembles.get(kind)
        if ens is None:
            continue
        part = out.loc[idx]
        z = np.abs(part[ens.columns].to_numpy(float))
        score = ens.score(part)
        out.loc[idx, "score"] = score
        out.loc[idx, "top_feature"] = np.array(ens.columns)[z.argmax(axis=1)]
        out.loc[idx, "point"] = (score >= detector.thresholds[kind]) & (z.max(axis=1) >= config.gate_z)
    stuck = out["running"] & (out["flat_minutes"] >= config.stuck_minutes)
    out.loc[stuck, "top_feature"] = "flat_minutes"
    keep = persistent(
        out["point"].to_numpy(bool), out["device_id"].to_numpy(), config.persist_k, config.persist_n
    )
    out["flagged"] = (out["point"] & keep) | stuck
    return out


def persistent(flags: np.ndarray, devices: np.ndarray, k: int, n: int) -> np.ndarray:
    """Flags that belong to a run of at least ``k`` flags within ``n`` consecutive rows of the same
    device (rows sorted by device, then time)."""
    size = len(flags)
    if size == 0:
        return flags.astype(bool)
    i = np.arange(size)
    new_device = np.r_[True, devices[1:] != devices[:-1]]
    first = np.maximum.accumulate(np.where(new_device, i, 0))  # first row of each row's device
    last = np.r_[first[1:][new_device[1:]] - 1, size - 1][np.cumsum(new_device) - 1]
    cs = np.r_[0, np.cumsum(flags.astype(int))]
    recent = cs[i + 1] - cs[np.maximum(i - n + 1, first)]  # flags in the window ending at i
    closes = np.r_[0, np.cumsum(recent >= k)]
    ahead = np.minimum(i + n - 1, last)  # windows that end at or after i and still contain it
    return flags.astype(bool) & (closes[ahead + 1] - closes[i] > 0)


def score_fleet(
    telemetry: pd.DataFrame, config: EnsembleConfig | None = None, detector: FleetDetector | None = None
) -> tuple[pd.DataFrame, FleetDetector]:
    """Score telemetry rows (fitting a ``FleetDetector`` on them unless one is given; a given one
    is reused as is, nothing is refitted); returns ``score_rows`` output and the detector."""
    if detector is None:
        detector, features = fit_fleet(telemetry, config)
    else:
        features, _ = residual_features(telemetry, detector.calibration)
    return score_rows(features, detector), detector


def _explain(event: pd.DataFrame, kind: str) -> tuple[str, str]:
    """(metric, sentence) for one alert event, from its median residuals."""
    minutes = (event["ts"].max() - event["ts"].min()) / pd.Timedelta("1min")
    if (event["top_feature"] == "flat_minutes").mean() >= 0.5:
        return "temperature_sensor", (
            f"temperature reading constant at {event['temperature_c'].median():.1f} C for "
            f"{event['flat_minutes'].max():.0f} min (stuck sensor?)"
        )
    top = event["top_feature"].mode().iloc[0]
    if top == "eff_z":
        change = float(np.exp(event["eff_resid"].median())) - 1
        if change < 0:
            return "hashrate", f"hashrate down {-change:.0%} at constant power (efficiency J/TH up)"
        return (
            "hashrate",
            f"hashrate up {change:.0%} for its power (efficiency J/TH down: sensor or firmware?)",
        )
    if top == "power_z":
        change = float(np.exp(event["power_resid"].median())) - 1
        return (
            "power",
            f"power {change:+.0%} from what {event['gpu_util_pct'].median():.0f}% utilization draws",
        )
    return "temperature", (
        f"temperature {event['temp_resid'].max():+.1f} C from expected (given power and ambient) "
        f"over {minutes + 5:.0f} min"
    )


def alert_events(
    scored: pd.DataFrame, interval: pd.Timedelta, config: EnsembleConfig | None = None
) -> pd.DataFrame:
    """Alert events from ``score_rows`` output: device_id, device_model, start_at, end_at (end of
    the last flagged interval), metric, score (peak), severity, detector, explanation."""
    config = config or EnsembleConfig()
    rows = []
    flagged_rows = scored[scored["flagged"]] if not scored.empty else scored
    for device_id, device in flagged_rows.groupby("device_id", sort=False):
        # runs of flagged rows, allowing one quiet interval inside a run
        times = device["ts"].to_numpy()
        breaks = np.flatnonzero(np.diff(times) > np.timedelta64(2 * interval))
        for run in np.split(np.arange(len(device)), breaks + 1):
            if len(run) < config.min_points:
                continue
            event = device.iloc[run]
            stuck = (event["top_feature"] == "flat_minutes").mean() >= 0.5
            peak = float(event["score"].max())
            if stuck:  # a frozen reading: severity by how long it has been frozen
                peak = max(peak, config.warning if event["flat_minutes"].max() < 240 else config.critical)
            metric, text = _explain(event, device["kind"].iloc[0])
            rows.append(
                {
                    "device_id": device_id,
                    "device_model": device["model"].iloc[0],
                    "start_at": event["ts"].min(),
                    "end_at": event["ts"].max() + interval,
                    "metric": metric,
                    "score": peak,
                    "severity": severity(peak, config) or "info",
                    "detector": STUCK if stuck else DETECTOR,
                    "explanation": text,
                }
            )
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


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
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def detect(
    telemetry: pd.DataFrame,
    interval: pd.Timedelta,
    config: EnsembleConfig | None = None,
    detector: FleetDetector | None = None,
) -> pd.DataFrame:
    """Alert events for a telemetry frame: the residual ensemble's and the stuck-sensor rule's
    events (``alert_events``) and the telemetry gaps (``telemetry_gaps``), by device and start."""
    if telemetry.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    scored, detector = score_fleet(telemetry, config, detector)
    parts = [alert_events(scored, interval, detector.config), telemetry_gaps(telemetry, interval)]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    events = pd.concat(parts, ignore_index=True)
    return events.sort_values(["device_id", "start_at"]).reset_index(drop=True)
