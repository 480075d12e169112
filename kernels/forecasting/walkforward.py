"""Walk-forward evaluation: what production does, replayed on history.

Forecast origins are spaced one day apart over the last ``days`` days. At every origin each
candidate is fitted on the ``history`` points before it and forecasts the next ``horizon`` steps;
its errors (MAPE, sMAPE, MAE, and MASE scaled by the seasonal-naive error of that training history)
are the candidate's out-of-sample errors at that origin (``score_origin``, the same function the
rolling-origin backtest of ``select`` uses). Every ``reselect_every`` origins the champion is chosen
the way the registry does it, from the errors of the ``folds`` latest origins whose whole horizon
lies before the current origin (nothing later is seen): ``choose_champion`` picks the best, and
``next_champion`` applies the registry's A/B rule against the current champion. The champion then
forecasts until the next re-selection, and what it scores on those days is the walk's figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kernels.forecasting.backtest import (
    METRICS,
    CandidateResult,
    choose_champion,
    next_champion,
    score_origin,
)
from kernels.forecasting.models import BASELINE, Candidate
from kernels.forecasting.series import SeriesError, season_length


@dataclass
class WalkForward:
    """A walk's outcome. ``errors``: one row per origin and candidate (origin, candidate, scored,
    mape, smape, mae, mase, error); ``champions``: the champion used at each scored origin."""

    errors: pd.DataFrame
    champions: pd.Series
    horizon: int
    folds: int
    reselect_every: int
    season: int
    history: int

    @property
    def scored(self) -> pd.DataFrame:
        return self.errors[self.errors["scored"]]

    def kept(self) -> list[str]:
        """Candidates that produced a forecast at every origin of the walk (warm-up included)."""
        failed = set(self.errors.loc[self.errors["error"].notna(), "candidate"])
        return [c for c in dict.fromkeys(self.errors["candidate"]) if c not in failed]

    def champion_errors(self) -> pd.DataFrame:
        """Per scored origin: the champion's name and its errors."""
        rows = self.scored.set_index(["origin", "candidate"])
        keys = list(zip(self.champions.index, self.champions.to_numpy(), strict=True))
        out = rows.loc[keys, list(METRICS)].reset_index()
        return out.rename(columns={"candidate": "champion"})

    def oracle_errors(self) -> pd.DataFrame:
        """Per scored origin, the kept candidate with the lowest MAE there (hindsight selection: the
        floor of any selection rule among these candidates)."""
        frame = self.scored[self.scored["candidate"].isin(self.kept())]
        best = frame.loc[frame.groupby("origin")["mae"].idxmin()]
        return best[["origin", "candidate", *METRICS]]

    def summary(self) -> dict:
        """Mean errors over the scored origins: champion, seasonal naive, hindsight oracle, each kept
        candidate; the champion's MAE relative to seasonal naive; champions used and how often."""

        def means(frame: pd.DataFrame) -> dict[str, float]:
            return {m: _finite_mean(frame[m]) for m in METRICS}

        kept = self.kept()
        scored = self.scored
        candidates = {c: means(scored[scored["candidate"] == c]) for c in kept}
        champion = means(self.champion_errors())
        naive = candidates.get(BASELINE, {m: float("nan") for m in METRICS})
        ratio = champion["mae"] / naive["mae"] if naive["mae"] else float("nan")
        return {
            "origins": int(scored["origin"].nunique()),
            "first_origin": str(scored["origin"].min()),
            "last_origin": str(scored["origin"].max()),
            "horizon": self.horizon,
            "folds": self.folds,
            "reselect_every": self.reselect_every,
            "history": self.history,
            "champion": champion,
            "seasonal_naive": naive,
            "oracle_selection": means(self.oracle_errors()),
            "champion_mae_vs_naive": ratio,
            "champions_used": {str(k): int(v) for k, v in self.champions.value_counts().items()},
            "candidates": candidates,
        }


def _finite_mean(values) -> float:
    arr = np.asarray(values, float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if len(arr) else float("nan")


def walk_origins(n: int, horizon: int, stride: int, days: int, warmup: int) -> tuple[list[int], int]:
    """Origin positions, oldest first: the ``days`` latest origins ``stride`` apart whose horizon ends
    inside the series, preceded by ``warmup`` more; and the index of the first scored one."""
    last = n - horizon
    total = days + warmup
    origins = [last - k * stride for k in range(total)][::-1]
    return origins, warmup


def walk_forward(
    y: pd.Series,
    candidates: Sequence[Candidate],
    horizon: int,
    days: int,
    folds: int = 3,
    reselect_every: int = 7,
    history: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> WalkForward:
    """Walk forward over the last ``days`` days of regular series ``y`` (see the module docstring).
    ``history``: training points before each origin (default all before it)."""
    if horizon < 1 or folds < 1 or days < 1 or reselect_every < 1:
        raise SeriesError("horizon, days, folds and the re-selection interval must be at least 1")
    step = pd.Timedelta(y.index[1] - y.index[0])
    season = season_length(step)
    stride = max(1, int(pd.Timedelta("1D") / step))
    # a fold is usable at origin o when its whole horizon is over: the warm-up supplies ``folds`` of them
    warmup = folds + math.ceil(horizon / stride) - 1
    origins, first = walk_origins(len(y), horizon, stride, days, warmup)
    need = 2 * season
    if origins[0] < need:
        raise SeriesError(
            f"too few points: {len(y)} after cleaning, need at least {need + len(y) - origins[0]} "
            f"(2 seasons of {season} before {len(origins)} daily origins of horizon {horizon})"
        )
    rows = []
    for i, origin in enumerate(origins):
        if progress:
            progress(f"origin {i + 1}/{len(origins)}: {y.index[origin]}")
        start = max(0, origin - history) if history else 0
        for candidate in candidates:
            metrics, error = score_origin(
                candidate, y.iloc[start:origin], y.iloc[origin : origin + horizon], season
            )
            rows.append({"origin": y.index[origin], "position": origin, "candidate": candidate.name,
                         "scored": i >= first, **metrics, "error": error})  # fmt: skip
    errors = pd.DataFrame(rows)
    champions = select_over_walk(errors, {c.name: c for c in candidates}, horizon, folds, reselect_every)
    return WalkForward(errors, champions, horizon, folds, reselect_every, season, history or 0)


def select_over_walk(
    errors: pd.DataFrame, candidates: dict[str, Candidate], horizon: int, folds: int, reselect_every: int
) -> pd.Series:
    """The champion at every scored origin of ``errors`` (see ``walk_forward``): re-selected every
    ``reselect_every`` origins from the ``folds`` latest origins whose horizon is over, kept between."""
    positions = sorted(errors.loc[errors["scored"], "position"].unique())
    times = errors.drop_duplicates("position").set_index("position")["origin"]
    champions, current = {}, None
    for i, origin in enumerate(positions):
        if i % reselect_every == 0:
            done = errors[errors["position"] + horizon <= origin]
            recent = sorted(done["position"].unique())[-folds:]
            results = _results(done[done["position"].isin(recent)], candidates)
            current = next_champion(results, current, choose_champion(results))
        champions[times[origin]] = current
    series = pd.Series(champions, name="champion")
    series.index.name = "origin"
    return series


def _results(errors: pd.DataFrame, candidates: dict[str, Candidate]) -> list[CandidateResult]:
    """Each candidate's mean errors over the given origins, as the backtest reports them."""
    out = []
    for name, part in errors.groupby("candidate", sort=False):
        failed = part["error"].dropna()
        metrics = {m: float("nan") if len(failed) else _finite_mean(part[m]) for m in METRICS}
        out.append(CandidateResult(candidates[name], metrics, error=failed.iloc[0] if len(failed) else None))
    return out
