"""Allocation planning: turn marts and forecasts (DataFrames) into an AllocationProblem, read the
solved plan back as rows, and replay history under several policies. Pure functions, no I/O."""

from kernels.planning.backtest import POLICIES, BacktestResult, backtest, make_feasible
from kernels.planning.builder import (
    Fleet,
    Forecast,
    PlanInputs,
    build_problem,
    facility_summary,
    naive_forecast,
    plan_rows,
    seasonal_naive,
)
from kernels.planning.config import DEFAULT_PLANNING, PlanningConfig

__all__ = [
    "DEFAULT_PLANNING",
    "POLICIES",
    "BacktestResult",
    "Fleet",
    "Forecast",
    "PlanInputs",
    "PlanningConfig",
    "backtest",
    "build_problem",
    "facility_summary",
    "make_feasible",
    "naive_forecast",
    "plan_rows",
    "seasonal_naive",
]
