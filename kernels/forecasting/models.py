"""Forecasting candidates behind one interface: seasonal-naive baseline, seasonal averages,
statsforecast challengers (AutoETS, MSTL with an AutoETS trend) and Prophet configurations. Every model fits a regular series and predicts ``horizon`` steps with an
80% interval (Prophet's default width, used for all so intervals are comparable)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kernels.forecasting.series import season_length

INTERVAL_WIDTH = 0.8
BASELINE = "seasonal_naive"


def quiet_prophet() -> None:
    """Silence cmdstanpy/prophet INFO chatter (one line per fit otherwise)."""
    try:
        import cmdstanpy

        # cmdstanpy configures its logger lazily on first use, resetting the level: configure it now
        cmdstanpy.utils.get_logger().setLevel(logging.ERROR)
    except (ImportError, AttributeError):  # pragma: no cover - older cmdstanpy
        pass
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass(frozen=True)
class Candidate:
    """A model configuration that can be backtested and registered: ``kind`` picks the class."""

    name: str
    kind: str  # seasonal_naive | seasonal_average | statsforecast | prophet
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(data["name"], data["kind"], dict(data.get("params", {})))


def default_candidates(step: pd.Timedelta, n_points: int, country: str | None = "US") -> list[Candidate]:
    """The candidates for a series with this step and length: the baseline first, then challengers."""
    season = season_length(step)
    found = [Candidate(BASELINE, "seasonal_naive", {"season": season})]
    if season > 1:
        # the last value: the forecast to beat on a random walk (BTC price, hence hashprice)
        found.append(Candidate("naive", "seasonal_naive", {"season": 1}))
    if step < pd.Timedelta("1D") and n_points >= 3 * 7 * season:
        # a week-ago copy often beats a day-ago copy on series with a weekday/weekend pattern
        found.append(Candidate("seasonal_naive_weekly", "seasonal_naive", {"season": 7 * season}))
    if n_points >= 3 * season:
        found.append(Candidate("seasonal_average", "seasonal_average", {"season": season, "seasons": 3}))
    if n_points >= 6 * season:
        # every season of the window: the smoothest profile, for series whose days differ at random
        found.append(Candidate("seasonal_average_long", "seasonal_average", {"season": season, "seasons": 7}))
    sub_daily = step < pd.Timedelta("1D")
    if sub_daily and season <= 24 and n_points >= 3 * season:
        # hourly or coarser only: AutoETS has no seasonal form past 24, and fit time grows with it
        found.append(Candidate("autoets", "statsforecast", {"model": "autoets", "seasons": [season]}))
        # MSTL learns the weekly profile only from two weeks on (one week of history is one sample)
        seasons = [season, 7 * season] if n_points >= 2 * 7 * season + season else [season]
        found.append(Candidate("mstl_ets", "statsforecast", {"model": "mstl", "seasons": seasons}))
    weekly = n_points * step >= pd.Timedelta("14D")
    base = {"daily": sub_daily, "weekly": weekly, "country": country}
    found.append(
        Candidate("prophet_additive", "prophet", {**base, "mode": "additive", "changepoint_prior": 0.05})
    )
    found.append(
        Candidate("prophet_flexible", "prophet", {**base, "mode": "multiplicative", "changepoint_prior": 0.5})
    )
    return found


class SeasonalNaive:
    """y[t + h] = y[t + h - k * season] for the smallest k that reaches into the history."""

    def __init__(self, season: int):
        self.season = max(1, int(season))

    def fit(self, y: pd.Series) -> SeasonalNaive:
        self._y = y
        self._step = pd.Timedelta(y.index[-1] - y.index[-2]) if len(y) > 1 else pd.Timedelta("1h")
        values = y.to_numpy(float)
        lag = self.season if len(values) > self.season else 1
        self._season = lag
        self._resid = values[lag:] - values[:-lag] if len(values) > lag else np.zeros(1)
        return self

    def _point(self, horizon: int) -> np.ndarray:
        values = self._y.to_numpy(float)
        last = values[-self._season :]
        return np.array([last[i % self._season] for i in range(horizon)])

    def predict(self, horizon: int) -> pd.DataFrame:
        """Frame indexed by target time with ``yhat``, ``yhat_lower``, ``yhat_upper``."""
        yhat = self._point(horizon)
        # seasonal-naive errors add up once per season stepped over (random walk over seasons)
        k = np.sqrt(np.floor(np.arange(horizon) / self._season) + 1)
        q = (1 - INTERVAL_WIDTH) / 2
        lo, hi = np.quantile(self._resid, [q, 1 - q])
        index = pd.date_range(self._y.index[-1] + self._step, periods=horizon, freq=self._step, name="ds")
        return pd.DataFrame(
            {"yhat": yhat, "yhat_lower": yhat + lo * k, "yhat_upper": yhat + hi * k}, index=index
        )


class SeasonalAverage(SeasonalNaive):
    """Mean of the same phase over the last ``seasons`` seasons: a smoother seasonal-naive that does
    not copy one noisy day (the challenger from the classic benchmark family)."""

    def __init__(self, season: int, seasons: int = 3):
        super().__init__(season)
        self.seasons = max(1, int(seasons))

    def _point(self, horizon: int) -> np.ndarray:
        values = self._y.to_numpy(float)
        k = max(1, min(self.seasons, len(values) // self._season))
        block = values[len(values) - k * self._season :].reshape(k, self._season).mean(axis=0)
        return np.array([block[i % self._season] for i in range(horizon)])


class StatsForecastModel:
    """A statsforecast model on the series' values: ``autoets`` (AutoETS with the first season) or
    ``mstl`` (MSTL decomposition over ``seasons``, trend forecast by a non-seasonal AutoETS)."""

    def __init__(self, model: str = "autoets", seasons: list[int] | None = None):
        self.model, self.seasons = model, [int(s) for s in (seasons or [24])]

    def _make(self):
        from statsforecast.models import MSTL, AutoETS

        if self.model == "autoets":
            return AutoETS(season_length=self.seasons[0])
        if self.model == "mstl":
            return MSTL(season_length=self.seasons, trend_forecaster=AutoETS(model="ZZN"))
        raise ValueError(f"unknown statsforecast model {self.model!r}")

    def fit(self, y: pd.Series) -> StatsForecastModel:
        self._step = pd.Timedelta(y.index[-1] - y.index[-2])
        self._last = y.index[-1]
        self._fitted = self._make().fit(y.to_numpy(float))
        return self

    def predict(self, horizon: int) -> pd.DataFrame:
        """Frame indexed by target time with ``yhat``, ``yhat_lower``, ``yhat_upper``."""
        level = round(INTERVAL_WIDTH * 100)
        out = self._fitted.predict(h=horizon, level=[level])
        index = pd.date_range(self._last + self._step, periods=horizon, freq=self._step, name="ds")
        return pd.DataFrame(
            {"yhat": out["mean"], "yhat_lower": out[f"lo-{level}"], "yhat_upper": out[f"hi-{level}"]},
            index=index,
        )


class ProphetModel:
    """Prophet with explicit seasonalities (daily and weekly as asked) and country holidays."""

    def __init__(
        self,
        daily: bool = True,
        weekly: bool = True,
        country: str | None = "US",
        mode: str = "additive",
        changepoint_prior: float = 0.05,
        uncertainty_samples: int = 100,
    ):
        self.kwargs = {
            "daily_seasonality": daily,
            "weekly_seasonality": weekly,
            "yearly_seasonality": False,
            "seasonality_mode": mode,
            "changepoint_prior_scale": changepoint_prior,
            "interval_width": INTERVAL_WIDTH,
            "uncertainty_samples": uncertainty_samples,
        }
        self.country = country

    def fit(self, y: pd.Series) -> ProphetModel:
        from prophet import Prophet

        quiet_prophet()
        self._model = Prophet(**self.kwargs)
        if self.country:
            self._model.add_country_holidays(country_name=self.country)
        self._step = pd.Timedelta(y.index[-1] - y.index[-2])
        self._last = y.index[-1]
        self._model.fit(pd.DataFrame({"ds": y.index, "y": y.to_numpy(float)}))
        return self

    def predict(self, horizon: int) -> pd.DataFrame:
        """Frame indexed by target time with ``yhat``, ``yhat_lower``, ``yhat_upper``."""
        index = pd.date_range(self._last + self._step, periods=horizon, freq=self._step, name="ds")
        out = self._model.predict(pd.DataFrame({"ds": index}))
        return out.set_index("ds")[["yhat", "yhat_lower", "yhat_upper"]]


def build(candidate: Candidate):
    """A fresh, unfitted model for ``candidate``."""
    params = dict(candidate.params)
    if candidate.kind == "seasonal_naive":
        return SeasonalNaive(params["season"])
    if candidate.kind == "seasonal_average":
        return SeasonalAverage(params["season"], params.get("seasons", 3))
    if candidate.kind == "statsforecast":
        return StatsForecastModel(**params)
    if candidate.kind == "prophet":
        return ProphetModel(**params)
    raise ValueError(f"unknown model kind {candidate.kind!r}")


def fit_predict(candidate: Candidate, y: pd.Series, horizon: int) -> pd.DataFrame:
    """Fit ``candidate`` on ``y`` and forecast ``horizon`` steps (see ``SeasonalNaive.predict``)."""
    return build(candidate).fit(y).predict(horizon)
