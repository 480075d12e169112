"""Allocation planning: turn marts and forecasts (DataFrames) into an AllocationProblem, read the
solved plan back as rows, and replay history under several policies. Pure functions, no I/O.

Exports load lazily (``kernels._lazy``): the planning config is cheap, the solver behind it is not."""

from typing import TYPE_CHECKING

from kernels._lazy import attach

if TYPE_CHECKING:
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
    "BacktestResult",
    "DEFAULT_PLANNING",
    "Fleet",
    "Forecast",
    "POLICIES",
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

__getattr__, __dir__ = attach(
    __name__,
    {
        "backtest": ("POLICIES", "BacktestResult", "backtest", "make_feasible"),
        "builder": (
            "Fleet",
            "Forecast",
            "PlanInputs",
            "build_problem",
            "facility_summary",
            "naive_forecast",
            "plan_rows",
            "seasonal_naive",
        ),
        "config": ("DEFAULT_PLANNING", "PlanningConfig"),
    },
)
