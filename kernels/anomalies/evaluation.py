"""Scoring a univariate detector against labelled windows (the NAB kind of labels).

Definition (``series_metrics``):

- An *alert event* is one alert of the detector, after its suppression, spanning the interval of
  the point that raised it; alerts less than ``gap`` apart are merged into one event
  (``scoring.merge_alerts``). No tolerance is added around the windows.
- A labelled window is *found* when an alert event overlaps it. An alert event that overlaps no
  window is a *false alert*. Several events inside one window find it once and are not false.
- precision = found / (found + false alerts), recall = found / windows, F1 their harmonic mean.
  A series without any labelled window scores 1 when it raised no alert and 0 otherwise.
- false alerts per week = false alerts / the series' length in weeks.
- detection delay of a found window: its first alert time minus the window's start (hours; NAB
  windows are centred on the anomaly, so half a window's length is "on time").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kernels.anomalies.scoring import event_scores
from kernels.anomalies.streaming import points_per_day, suppress

GAP = pd.Timedelta("1h")


def series_metrics(
    index: pd.DatetimeIndex,
    alerts: np.ndarray,
    windows: pd.DataFrame,
    step: pd.Timedelta,
    gap: pd.Timedelta = GAP,
) -> dict:
    """Event F1, precision, recall, counts, false alerts per week and mean detection delay (hours)
    of alert positions ``alerts`` in a series with timestamps ``index``; ``windows`` has ``start``,
    ``end``."""
    times = index[np.asarray(alerts, int)]
    frame = pd.DataFrame({"start": times, "end": times + step})
    result = event_scores(frame, windows[["start", "end"]], gap)
    result.pop("gap_minutes")
    if len(windows) == 0:
        nothing_raised = float(result["alert_events"] == 0)
        result.update(precision=nothing_raised, recall=nothing_raised, f1=nothing_raised)
    weeks = max((index[-1] - index[0] + step) / pd.Timedelta("7D"), 1e-9)
    delays = []
    for row in windows.itertuples(index=False):
        inside = times[(times >= row.start) & (times <= row.end)]
        if len(inside):
            delays.append((inside.min() - row.start) / pd.Timedelta("1h"))
    result["false_alerts_per_week"] = result["false_positives"] / weeks
    result["delay_h"] = float(np.mean(delays)) if delays else None
    result["weeks"] = weeks
    return result


def oracle_threshold(
    index: pd.DatetimeIndex,
    score: np.ndarray,
    windows: pd.DataFrame,
    step: pd.Timedelta,
    warm: int,
    suppress_days: float,
    candidates: int = 50,
) -> dict:
    """The best event F1 a fixed threshold on ``score`` could reach on this series *if it were
    chosen with the labels* (a ceiling, not a detector): thresholds at ``candidates`` quantiles of
    the score after warm-up, same suppression. Returns the best threshold and its metrics."""
    score = np.nan_to_num(np.asarray(score, float))
    live = score[warm:]
    gap = int(suppress_days * points_per_day(step))
    best = {"f1": -1.0}
    levels = np.unique(np.quantile(live, np.linspace(0.9, 1.0, candidates))) if len(live) else np.array([])
    levels = np.r_[levels, 1.0, np.inf]  # 1: the detector's own bar on a severity; inf: no alert
    for level in levels:
        flags = score > level
        flags[:warm] = False
        metrics = series_metrics(index, suppress(flags, gap), windows, step)
        if metrics["f1"] > best["f1"]:
            best = {**metrics, "threshold": float(level)}
    return best


def mean_metrics(rows: list[dict]) -> dict:
    """Means over series of F1, precision, recall, false alerts per week, delay (found windows);
    and the F1 mean over series that have labelled windows."""
    frame = pd.DataFrame(rows)
    out = {k: float(frame[k].mean()) for k in ("f1", "precision", "recall", "false_alerts_per_week")}
    out["delay_h"] = float(frame["delay_h"].dropna().mean()) if frame["delay_h"].notna().any() else None
    labelled = frame[frame["faults"] > 0]
    out["f1_labelled"] = float(labelled["f1"].mean()) if len(labelled) else None
    out["series"] = len(frame)
    out["windows"] = int(frame["faults"].sum())
    out["windows_found"] = int(frame["faults_found"].sum())
    out["false_alerts"] = int(frame["false_positives"].sum())
    return out
