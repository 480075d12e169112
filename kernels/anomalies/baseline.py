"""The single-series detector ``hcp eval anomalies`` used before the streaming one: the pyod
ensemble fitted on the whole series (value, first difference, deviation from a rolling median) and
a fixed combined-score threshold. It sees the future (fitted on every point) and has no suppression;
kept as the baseline the streaming detector is compared with."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kernels.anomalies.detect import EnsembleConfig, fit_ensemble


def ensemble_flags(y: pd.Series, step: pd.Timedelta) -> np.ndarray:
    """Boolean flag per point of a regular series ``y`` (every flagged point is an alert)."""
    window = max(3, min(len(y) // 20, int(pd.Timedelta("1D") / step)))
    feats = pd.DataFrame(
        {
            "value": y.to_numpy(),
            "diff": y.diff().fillna(0).to_numpy(),
            "dev": (y - y.rolling(window, min_periods=1).median()).to_numpy(),
        }
    )
    config = EnsembleConfig()
    score = fit_ensemble(feats, list(feats.columns), config).score(feats)
    return np.asarray(score >= config.info, bool)
