"""Point-forecast accuracy metrics: MAPE, sMAPE, MAE, MASE (Hyndman & Koehler 2006)."""

from __future__ import annotations

import numpy as np


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error, in the series' unit."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    return float(np.mean(np.abs(actual - forecast)))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error in percent; points where the actual is 0 are left out
    (the ratio is undefined there), and NaN is returned when every actual is 0."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    keep = actual != 0
    if not keep.any():
        return float("nan")
    return float(np.mean(np.abs((actual[keep] - forecast[keep]) / actual[keep])) * 100.0)


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent (0..200): mean of 2|a - f| / (|a| + |f|), a 0/0 term counting 0."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    denom = np.abs(actual) + np.abs(forecast)
    terms = np.divide(2.0 * np.abs(actual - forecast), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(np.mean(terms) * 100.0)


def seasonal_naive_scale(train: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal-naive forecast (y[t] predicted by y[t - season]) on ``train``:
    the MASE denominator. Falls back to lag 1 when the training window is shorter than two seasons."""
    train = np.asarray(train, float)
    lag = season if len(train) > season else 1
    if len(train) <= lag:
        return float("nan")
    return float(np.mean(np.abs(train[lag:] - train[:-lag])))


def mase(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, season: int) -> float:
    """Mean absolute scaled error: MAE over the in-sample seasonal-naive MAE of the training window.
    Below 1 the forecast beats what a seasonal-naive forecast achieves in sample."""
    scale = seasonal_naive_scale(train, season)
    if not np.isfinite(scale) or scale == 0:
        return float("nan")
    return mae(actual, forecast) / scale


def all_metrics(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, season: int) -> dict[str, float]:
    """``{"mape", "smape", "mae", "mase"}`` of one forecast against its actuals."""
    return {
        "mape": mape(actual, forecast),
        "smape": smape(actual, forecast),
        "mae": mae(actual, forecast),
        "mase": mase(actual, forecast, train, season),
    }
