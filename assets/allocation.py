"""Allocation assets: the hourly plan (which ASICs mine and which GPUs serve, per interval) and the
backtest of that plan policy against simple rules. Maths in ``kernels.planning``, SQL in
``assets.allocation_queries``, the solver in ``kernels.allocation``.

Intervals are hourly (``kernels.planning.config.PlanningConfig.dt_hours``): real-time prices are
averaged to the hour, as in ``marts.fct_facility_hourly``.
"""

import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
import psycopg

from assets import allocation_queries as q
from assets.automation import schedule_status
from assets.groups import OPTIMIZATION
from assets.marts import mart_key
from assets.resources import PostgresResource
from kernels.planning import DEFAULT_PLANNING  # the config alone: the solver loads in the runs that plan

PLAN = dg.AssetKey(["ops", "allocation_plan"])
BACKTEST = dg.AssetKey(["ops", "allocation_backtest"])
UPSTREAM = [
    mart_key("dim_devices"),
    mart_key("dim_facilities"),
    mart_key("fct_device_hourly"),
    mart_key("fct_usage"),
    dg.AssetKey(["intermediate", "int_hashprices_computed"]),
    dg.AssetKey(["staging", "stg_raw__energy_prices"]),
    dg.AssetKey(["staging", "stg_raw__rate_cards"]),
]
FORECASTS = dg.AssetKey(["ml", "forecasts"])


class PlanConfig(dg.Config):
    """Horizon of the plan: from `start` (ISO, UTC; default the next whole hour) for `horizon_hours`."""

    start: str | None = None
    horizon_hours: int = DEFAULT_PLANNING.horizon_hours


class BacktestConfig(dg.Config):
    """Replay the last `days` days of history (each needs the previous day as its forecast)."""

    days: int = 14


def _next_hour(start: str | None) -> datetime:
    if start:
        return pd.Timestamp(start, tz="UTC").floor("h").to_pydatetime()
    return (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


@dg.asset(
    key=PLAN,
    group_name=OPTIMIZATION,
    deps=[*UPSTREAM, FORECASTS],
    description="Hourly: next-day plan per device and hour (mining / inference / curtailed) with its "
    "facility summary, from champion forecasts where present, else last observed values.",
)
def allocation_plan(context: dg.AssetExecutionContext, config: PlanConfig, postgres: PostgresResource):
    """Build, solve and store the plan for the coming horizon."""
    from kernels.allocation import evaluate, solve
    from kernels.planning import build_problem, facility_summary, naive_forecast, plan_rows

    cfg = DEFAULT_PLANNING
    start = _next_hour(config.start)
    intervals = pd.date_range(
        start, periods=round(config.horizon_hours / cfg.dt_hours), freq=pd.Timedelta(hours=cfg.dt_hours)
    )
    end = intervals[-1].to_pydatetime() + timedelta(hours=cfg.dt_hours)
    with psycopg.connect(postgres.get_url(), autocommit=True) as conn:
        fleet = q.load_fleet(conn)
        observed_until = min(start, q.data_end(conn) or start)
        history = q.load_history(conn, observed_until - timedelta(days=7), observed_until)
        day_ahead = q.load_prices(conn, start, end).dropna(subset=["da"])
        day_ahead = (
            day_ahead.pivot_table(index="at", columns="facility_id", values="da") if len(day_ahead) else None
        )
        forecast = naive_forecast(history, intervals, day_ahead, cfg.price_spike_mads)
        champion = q.load_champion(conn, fleet, start, end)
        if champion is not None:
            forecast = forecast.prefer(champion)
        forecast.committed_gpus = q.committed_gpus(conn, start, end).combine_first(forecast.committed_gpus)
        penalties = q.commitment_penalties(conn, cfg.penalty_rate_multiple)
        inputs = build_problem(fleet, forecast, intervals, q.load_initial_on(conn), penalties, cfg)
        result = solve(inputs.problem)
        _, feasible, violations = evaluate(inputs.problem, result.x)
        issued_at = datetime.now(UTC)
        plan = {
            "plan_id": uuid.uuid4().hex, "issued_at": issued_at, "horizon_start": start,
            "horizon_hours": config.horizon_hours, "dt_hours": cfg.dt_hours, "objective": result.objective,
            "upper_bound": result.upper_bound, "gap": result.gap, "seconds": result.seconds,
            "devices": len(inputs.device_ids), "intervals": len(intervals),
            "status": "feasible" if feasible else "infeasible",
            "inputs": {"forecast": "champion" if champion is not None else "last_observed",
                       "observed_until": observed_until.isoformat()},
        }  # fmt: skip
        q.write_plan(
            conn, plan, plan_rows(inputs, result), facility_summary(inputs, result.x), cfg.keep_plan_days
        )
    if not feasible:
        context.log.warning(f"plan {plan['plan_id']} violates constraints: {violations}")
    return dg.MaterializeResult(
        metadata={
            "plan_id": plan["plan_id"],
            "objective_usd": dg.FloatMetadataValue(float(result.objective)),
            "upper_bound_usd": dg.FloatMetadataValue(float(result.upper_bound)),
            "gap": dg.FloatMetadataValue(float(result.gap)),
            "seconds": dg.FloatMetadataValue(float(result.seconds)),
            "devices": len(inputs.device_ids),
            "intervals": len(intervals),
            "feasible": feasible,
            "forecast": plan["inputs"]["forecast"],
        }
    )


@dg.asset(
    key=BACKTEST,
    group_name=OPTIMIZATION,
    deps=UPSTREAM,
    description="Daily: replay history with the plan policy (re-planned hourly from the day-ahead forecast "
    "and the latest real-time price) against always-on, a strike-price rule and perfect foresight; "
    "realized profit per day and policy.",
)
def allocation_backtest(
    context: dg.AssetExecutionContext, config: BacktestConfig, postgres: PostgresResource
):
    """Run the backtest over the last `days` days of history and store it."""
    from kernels.planning import backtest

    cfg = DEFAULT_PLANNING
    with psycopg.connect(postgres.get_url(), autocommit=True) as conn:
        fleet = q.load_fleet(conn)
        until = q.data_end(conn, telemetry=True) or datetime.now(UTC)
        history = q.load_history(conn, until - timedelta(days=config.days + 1), until)
        penalties = q.commitment_penalties(conn, cfg.penalty_rate_multiple)
        result = backtest(fleet, history, None, penalties, cfg)
        totals = result.totals().set_index("policy")
        days = sorted(result.daily["day"].unique()) if len(result.daily) else []
        run = {
            "run_id": uuid.uuid4().hex, "ran_at": datetime.now(UTC), "first_day": days[0] if days else None,
            "last_day": days[-1] if days else None, "days": len(days), "dt_hours": cfg.dt_hours,
            "summary": {"profit_usd": totals["realized_profit_usd"].to_dict(),
                        "gap_max": float(result.solves["gap"].max()) if len(result.solves) else None},
        }  # fmt: skip
        q.write_backtest(conn, run, result.daily)
    if not days:
        context.log.warning("no day with a full previous day of prices: nothing to backtest")
    metadata = {"run_id": run["run_id"], "days": len(days)}
    for policy, row in totals.iterrows():
        metadata[f"profit_usd/{policy}"] = dg.FloatMetadataValue(float(row["realized_profit_usd"]))
    if len(result.solves):
        # the optimizer's opening plan of each day (its later re-plans cover the rest of the day)
        solves = result.solves
        optimizer = solves[(solves["policy"] == "optimizer") & (solves["hour"] == 0)]
        metadata["optimizer_solves"] = int((solves["policy"] == "optimizer").sum())
        metadata["objective_usd"] = dg.FloatMetadataValue(float(optimizer["objective"].sum()))
        metadata["upper_bound_usd"] = dg.FloatMetadataValue(float(optimizer["upper_bound"].sum()))
        metadata["gap_max"] = dg.FloatMetadataValue(float(result.solves["gap"].max()))
        metadata["seconds"] = dg.FloatMetadataValue(float(result.solves["seconds"].sum()))
    return dg.MaterializeResult(metadata=metadata)


allocation_plan_job = dg.define_asset_job(
    "allocation_plan_hourly", selection=[PLAN], description="Re-plan the next horizon from the latest data."
)
allocation_backtest_job = dg.define_asset_job(
    "allocation_backtest_daily",
    selection=[BACKTEST],
    description="Replay recent days under the four policies.",
)

defs = dg.Definitions(
    assets=[allocation_plan, allocation_backtest],
    jobs=[allocation_plan_job, allocation_backtest_job],
    # The plan follows the forecasts (orchestration.automation); the backtest runs nightly.
    schedules=[
        dg.ScheduleDefinition(
            job=allocation_backtest_job,
            cron_schedule="30 1 * * *",
            execution_timezone="UTC",
            default_status=schedule_status(),
        ),
    ],
)
