"""Turning a user's or the database's time series into a regular, gap-free series a model can use."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd


class ForecastSeries(NamedTuple):
    """A series to forecast and what its candidates need to know about it."""

    values: pd.Series  # raw observations indexed by naive UTC time
    horizon: int  # steps of the series' own interval to forecast
    country: str | None = None  # holiday calendar for Prophet
    tz: str | None = None  # time zone whose calendar (weekends) the series follows


class SeriesError(ValueError):
    """The input cannot be made into a usable series; the message says why, for the user."""


def has_utc_offset(raw: pd.Series) -> bool:
    """Whether the time texts carry a UTC offset (``Z`` or ``+hh:mm``): those are read as UTC, the
    others as the local clock they were written in."""
    return bool(raw.astype("string").str.contains(r"(?:Z|[+-]\d\d:?\d\d)\s*$", regex=True, na=False).any())


def _parse_times(raw: pd.Series, time_col: str) -> pd.Series:
    text = raw.astype("string")
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna() & text.notna()
    if len(parsed) and bad.mean() > 0.1:
        example = text[bad].iloc[0]
        raise SeriesError(
            f"column {time_col!r}: {int(bad.sum())} of {len(parsed)} values are not times (e.g. {example!r})"
        )
    # Prophet wants naive timestamps; naive input stays as written (local clock), offsets go to UTC.
    if not has_utc_offset(text):
        return parsed.dt.tz_localize(None)
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None)


def infer_freq(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The series' step: the most common spacing between consecutive timestamps."""
    steps = index.to_series().diff().dropna()
    steps = steps[steps > pd.Timedelta(0)]
    if steps.empty:
        raise SeriesError("cannot infer the interval: fewer than two distinct timestamps")
    return steps.mode().iloc[0]


def regularize(
    frame: pd.DataFrame, time_col: str = "ds", value_col: str = "y", freq: str | None = None
) -> tuple[pd.Series, pd.Timedelta]:
    """A regular series from raw rows, and its step.

    Unparseable times are dropped (more than 10% of them is an error), duplicated timestamps are
    averaged, the series is put on a fixed grid (``freq``, else the most common spacing) and gaps up
    to one day are filled by time interpolation; longer gaps are filled by the value one season
    earlier when there is one, and rows still empty at the start are dropped.
    """
    for column in (time_col, value_col):
        if column not in frame.columns:
            raise SeriesError(
                f"column {column!r} not found; columns are {', '.join(map(str, frame.columns))}"
            )
    times = _parse_times(frame[time_col], time_col)
    values = pd.to_numeric(frame[value_col], errors="coerce")
    data = pd.DataFrame({"ds": times, "y": values}).dropna(subset=["ds"])
    if data["y"].notna().sum() < 2:
        raise SeriesError(f"column {value_col!r} has fewer than two numeric values")
    series = data.groupby("ds")["y"].mean().sort_index()
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) if freq else infer_freq(series.index)
    except ValueError as err:
        raise SeriesError(f"--freq {freq!r} is not a pandas frequency such as h, 15min or D") from err
    grid = series.resample(step).mean()
    limit = max(1, int(pd.Timedelta("1D") / step))
    filled = grid.interpolate(method="time", limit=limit, limit_area="inside")
    season = season_length(step)
    if filled.isna().any() and len(filled) > season:
        filled = filled.fillna(filled.shift(season))
    return filled.dropna(), step


def season_length(step: pd.Timedelta) -> int:
    """Steps per season for the seasonal-naive baseline: one day for sub-daily data, one week for
    daily data, else 1 (plain naive)."""
    if step < pd.Timedelta("1D"):
        return max(1, int(pd.Timedelta("1D") / step))
    if step == pd.Timedelta("1D"):
        return 7
    return 1
