"""Forecasting maths: series cleaning, candidate models (seasonal naive, challengers, Prophet),
rolling-origin backtests, champion selection and accuracy metrics. No I/O here."""

from kernels.forecasting.backtest import Selection, backtest, choose_champion, profile_floor, select, wins_ab
from kernels.forecasting.metrics import all_metrics, mae, mape, mase, smape
from kernels.forecasting.models import BASELINE, Candidate, default_candidates, fit_predict
from kernels.forecasting.series import ForecastSeries, SeriesError, regularize, season_length

__all__ = [
    "BASELINE",
    "Candidate",
    "ForecastSeries",
    "Selection",
    "SeriesError",
    "all_metrics",
    "backtest",
    "choose_champion",
    "default_candidates",
    "fit_predict",
    "mae",
    "mape",
    "mase",
    "profile_floor",
    "regularize",
    "season_length",
    "select",
    "smape",
    "wins_ab",
]
