"""Forecasting maths: series cleaning, candidate models (seasonal naive, challengers, Prophet),
rolling-origin backtests, champion selection and accuracy metrics. No I/O here."""

from kernels.forecasting.backtest import (
    Selection,
    backtest,
    choose_champion,
    next_champion,
    profile_floor,
    score_origin,
    select,
    wins_ab,
)
from kernels.forecasting.metrics import all_metrics, mae, mape, mase, smape
from kernels.forecasting.models import (
    BASELINE,
    Candidate,
    default_candidates,
    fit_predict,
    forecast_or_baseline,
)
from kernels.forecasting.series import ForecastSeries, SeriesError, regularize, season_length
from kernels.forecasting.walkforward import WalkForward, walk_forward

__all__ = [
    "BASELINE",
    "Candidate",
    "ForecastSeries",
    "Selection",
    "WalkForward",
    "SeriesError",
    "all_metrics",
    "backtest",
    "choose_champion",
    "default_candidates",
    "fit_predict",
    "forecast_or_baseline",
    "mae",
    "mape",
    "mase",
    "next_champion",
    "profile_floor",
    "regularize",
    "score_origin",
    "season_length",
    "select",
    "smape",
    "walk_forward",
    "wins_ab",
]
