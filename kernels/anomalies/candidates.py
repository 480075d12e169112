"""Other causal detectors the streaming one was compared with (``hcp eval anomalies --detector``):
each gives one score per point, then the same causal threshold, warm-up and suppression as
``kernels.anomalies.streaming`` turn it into alerts. The comparison is in docs/anomalies.md."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from kernels.anomalies.streaming import (
    StreamConfig,
    causal_threshold,
    points_per_day,
    stream_scores,
    suppress,
)


def windowed_gaussian_scores(values: np.ndarray, step: pd.Timedelta, long_days: float = 7.0) -> np.ndarray:
    """NAB's windowed Gaussian: the mean of the last hour against a normal distribution fitted on
    the ``long_days`` before it, as a z-score (no seasonality, no robust scale)."""
    s = pd.Series(np.asarray(values, float))
    k = max(2, int(pd.Timedelta("1h") / step))
    w = max(20, int(long_days * points_per_day(step)))
    short = s.rolling(k, min_periods=1).mean()
    mean = s.shift(k).rolling(w, min_periods=10).mean()
    sd = s.shift(k).rolling(w, min_periods=10).std()
    z = (short - mean) / (sd.clip(lower=1e-9) / np.sqrt(k))
    return np.abs(np.nan_to_num(z.to_numpy()))


def ecod_residual_scores(
    values: np.ndarray, step: pd.Timedelta, config: StreamConfig | None = None, lags: int = 6
) -> np.ndarray:
    """pyod's ECOD on windows of the streaming detector's signed spike residuals (the last ``lags``
    z-scores), refitted once a day on the windows seen so far and scoring the next day's: causal."""
    from pyod.models.ecod import ECOD

    config = config or StreamConfig()
    z = stream_scores(values, step, config)[:, 0]
    x = np.column_stack([np.r_[np.zeros(i), z[: len(z) - i]] for i in range(lags)])
    day = points_per_day(step)
    out = np.zeros(len(z))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in range(day, len(z), day):
            model = ECOD().fit(x[:start])
            out[start : start + day] = model.decision_function(x[start : start + day])
    return out


def alerts_from_score(
    score: np.ndarray, step: pd.Timedelta, config: StreamConfig | None = None
) -> np.ndarray:
    """Alert positions of one causal score with the streaming detector's threshold rules."""
    config = config or StreamConfig()
    day = points_per_day(step)
    warm = min(int(config.warm_days * day), len(score) // 5)
    history = max(20, int(config.history_days * day))
    first = int(config.learn_from * warm)
    threshold = causal_threshold(
        np.asarray(score, float), warm, config.quantile, config.factor, config.record, history, first
    )
    with np.errstate(invalid="ignore"):
        flags = score > threshold
    return suppress(flags, int(config.suppress_days * day))
