"""Forecasting candidates behind one interface: seasonal-naive baseline, seasonal averages,
similar days (same hour of recent days of the same kind, weekday or weekend, in the series' local
time), statsforecast challengers (AutoETS, MSTL with an AutoETS trend) and Prophet configurations.
Every model fits a regular series and predicts ``horizon`` steps with an 80% interval (Prophet's
default width, used for all so intervals are comparable)."""

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
    kind: str  # seasonal_naive | seasonal_average | similar_day | statsforecast | prophet
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(data["name"], data["kind"], dict(data.get("params", {})))


def default_candidates(
    step: pd.Timedelta, n_points: int, country: str | None = "US", tz: str | None = None
) -> list[Candidate]:
    """The candidates for a series with this step and length: the baseline first, then challengers.
    ``tz`` is the time zone whose calendar the series follows (its weekends), None for the index's
    own clock."""
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
    if sub_daily and n_points >= 2 * season:
        # demand of people at work: a Saturday is like last Saturday, not like yesterday (Friday)
        for name, days in (("similar_day", 5), ("similar_day_long", 8)):
            found.append(Candidate(name, "similar_day", {"season": season, "days": days, "tz": tz}))
    if sub_daily and season <= 24 and n_points >= 3 * season:
        # hourly or coarser only: AutoETS has no seasonal form past 24, and fit time grows with it
        found.append(Candidate("autoets", "statsforecast", {"model": "autoets", "seasons": [season]}))
        # MSTL learns the weekly profile only from two weeks on (one week of history is one sample)
        seasons = [season, 7 * season] if n_points >= 2 * 7 * season + season else [season]
        found.append(Candidate("mstl_ets", "statsforecast", {"model": "mstl", "seasons": seasons}))
    weekly = n_points * step >= pd.Timedelta("14D")
    base = {"daily": sub_daily, "weekly": weekly, "country": country, "tz": tz}
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


def wall_clock(tz: str | None, index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Naive-UTC ``index`` as the clock on the wall in ``tz`` (naive); unchanged when ``tz`` is None."""
    return index.tz_localize("UTC").tz_convert(tz).tz_localize(None) if tz else index


class SimilarDay(SeasonalNaive):
    """Mean of the same wall-clock time over the last ``days`` days of the same kind (weekday or
    weekend), in ``tz`` (the index's own clock when None), so a daylight-saving change does not
    shift the daily shape by an hour. Fewer days are used where the history holds fewer, and the
    same time a whole day back where it holds none of the kind (a first weekend). The interval
    comes from the rule's in-sample errors."""

    def __init__(self, season: int, days: int = 5, tz: str | None = None):
        super().__init__(season)
        self.days, self.tz = max(1, int(days)), tz

    def _means(self, history: pd.Series, targets: pd.DatetimeIndex) -> np.ndarray:
        """The rule at each target time, read from ``history`` strictly before it."""
        values = history.to_numpy(float)
        wall = wall_clock(self.tz, targets)
        weekend = np.asarray(wall.dayofweek >= 5)
        # enough days back to find ``days`` weekend days (two a week), bounded by the history
        span = (targets.max() - history.index[0]) // pd.Timedelta("1D")
        lookback = int(min(span, (self.days + 1) * 7 // 2 + 7))
        count, total = np.zeros(len(targets), int), np.zeros(len(targets))
        fallback = np.full(len(targets), np.nan)
        for back in range(1, lookback + 1):
            earlier = wall - pd.Timedelta(days=back)
            if self.tz:  # a wall time that did not exist, or came twice, on that day is left out
                utc = earlier.tz_localize(self.tz, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC")
                earlier_utc = utc.tz_localize(None)
            else:
                earlier_utc = earlier
            pos = history.index.get_indexer(earlier_utc)
            found = pos >= 0
            seen = np.where(found, values[pos], np.nan)
            fallback = np.where(np.isnan(fallback) & found, seen, fallback)
            take = found & (count < self.days) & (np.asarray(earlier.dayofweek >= 5) == weekend)
            count += take
            total += np.where(take, seen, 0.0)
        means = np.divide(total, count, out=fallback, where=count > 0)
        return np.where(np.isnan(means), values[-1], means)

    def fit(self, y: pd.Series) -> SimilarDay:
        super().fit(y)
        inside = y.index[self.season :]
        if len(inside):
            # in-sample errors of the rule: each point's mean reads only days before it
            self._resid = y.to_numpy(float)[self.season :] - self._means(y, inside)
        return self

    def _point(self, horizon: int) -> np.ndarray:
        future = pd.date_range(self._y.index[-1] + self._step, periods=horizon, freq=self._step)
        return self._means(self._y, future)


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
    """Prophet with explicit seasonalities (daily and weekly as asked) and country holidays, fitted
    on the wall clock of ``tz`` when given, so its days, weeks and holidays are the local ones."""

    def __init__(
        self,
        daily: bool = True,
        weekly: bool = True,
        country: str | None = "US",
        mode: str = "additive",
        changepoint_prior: float = 0.05,
        uncertainty_samples: int = 100,
        tz: str | None = None,
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
        self.country, self.tz = country, tz

    def fit(self, y: pd.Series) -> ProphetModel:
        from prophet import Prophet

        quiet_prophet()
        self._model = Prophet(**self.kwargs)
        if self.country:
            self._model.add_country_holidays(country_name=self.country)
        self._step = pd.Timedelta(y.index[-1] - y.index[-2])
        self._last = y.index[-1]
        self._model.fit(pd.DataFrame({"ds": wall_clock(self.tz, y.index), "y": y.to_numpy(float)}))
        return self

    def predict(self, horizon: int) -> pd.DataFrame:
        """Frame indexed by target time with ``yhat``, ``yhat_lower``, ``yhat_upper``."""
        index = pd.date_range(self._last + self._step, periods=horizon, freq=self._step, name="ds")
        out = self._model.predict(pd.DataFrame({"ds": wall_clock(self.tz, index)}))
        return out[["yhat", "yhat_lower", "yhat_upper"]].set_index(index)


def build(candidate: Candidate):
    """A fresh, unfitted model for ``candidate``."""
    params = dict(candidate.params)
    if candidate.kind == "seasonal_naive":
        return SeasonalNaive(params["season"])
    if candidate.kind == "seasonal_average":
        return SeasonalAverage(params["season"], params.get("seasons", 3))
    if candidate.kind == "similar_day":
        return SimilarDay(params["season"], params.get("days", 5), params.get("tz"))
    if candidate.kind == "statsforecast":
        return StatsForecastModel(**params)
    if candidate.kind == "prophet":
        return ProphetModel(**params)
    raise ValueError(f"unknown model kind {candidate.kind!r}")


def fit_predict(candidate: Candidate, y: pd.Series, horizon: int) -> pd.DataFrame:
    """Fit ``candidate`` on ``y`` and forecast ``horizon`` steps (see ``SeasonalNaive.predict``)."""
    return build(candidate).fit(y).predict(horizon)


def forecast_or_baseline(
    candidate: Candidate, y: pd.Series, horizon: int, season: int
) -> tuple[pd.DataFrame, str, str | None]:
    """``candidate``'s forecast of ``y``, or the seasonal-naive baseline's when ``candidate`` fails on
    this data (a champion chosen on earlier data may not fit the latest: an optimizer that does not
    converge); returns the forecast, the name of the model that made it, and the candidate's error."""
    try:
        return fit_predict(candidate, y, horizon), candidate.name, None
    except Exception as err:  # noqa: BLE001 - the baseline stands in and the error is reported
        baseline = Candidate(BASELINE, "seasonal_naive", {"season": season})
        return fit_predict(baseline, y, horizon), BASELINE, f"{candidate.name}: {type(err).__name__}: {err}"
