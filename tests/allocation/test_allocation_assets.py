"""The allocation assets end to end: a small simulated fleet loaded into raw, the dbt models built
through Dagster, then allocation_plan and allocation_backtest materialized on it."""

from datetime import UTC, datetime

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets import allocation_queries as q
from assets.allocation import allocation_backtest, allocation_plan
from assets.resources import PostgresResource
from kernels.allocation import evaluate
from kernels.planning import DEFAULT_PLANNING, build_problem, naive_forecast
from tests.databases import Template

END = datetime(2026, 10, 8, tzinfo=UTC)
START = "2026-10-08T00:00:00+00:00"


@pytest.fixture(scope="module")
def database_template(allocation_fleet_template: Template) -> Template:
    """2 facilities x 60 devices x 3 days in raw, and every dbt model fully rebuilt on them."""
    return allocation_fleet_template


@pytest.fixture(scope="module")
def fleet_marts(module_url: str) -> str:
    """The module's copy of the fleet with its marts built."""
    return module_url


@pytest.fixture(scope="module")
def allocation_run(fleet_marts):
    result = dg.materialize(
        [allocation_plan, allocation_backtest],
        resources={"postgres": PostgresResource()},
        run_config={"ops": {"ops__allocation_plan": {"config": {"start": START, "horizon_hours": 24}}}},
    )
    assert result.success
    return {
        e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()
    }


def test_plan_is_feasible_and_matches_its_rows(allocation_run, conn):
    meta = allocation_run["allocation_plan"]
    plan_id = meta["plan_id"].value
    plan = conn.execute(
        "select status, objective, devices, intervals, horizon_start from ops.allocation_plans where plan_id = %s",
        (plan_id,),
    ).fetchone()
    assert plan[0] == "feasible" and plan[2] == 60 and plan[3] == 24
    # rebuild the problem the asset solved and score the stored rows on it
    start = plan[4]
    intervals = pd.date_range(start, periods=24, freq="h")
    fleet = q.load_fleet(conn)
    until = min(start, q.data_end(conn))
    history = q.load_history(conn, until - pd.Timedelta(days=7), until)
    day_ahead = q.load_prices(conn, start, start + pd.Timedelta(hours=24)).dropna(subset=["da"])
    day_ahead = (
        day_ahead.pivot_table(index="at", columns="facility_id", values="da") if len(day_ahead) else None
    )
    forecast = naive_forecast(history, intervals, day_ahead, DEFAULT_PLANNING.price_spike_mads)
    inputs = build_problem(fleet, forecast, intervals, q.load_initial_on(conn))
    rows = pd.DataFrame(
        conn.execute(
            "select device_id, interval_start, mode from ops.allocation_plan where plan_id = %s", (plan_id,)
        ).fetchall(),
        columns=["device_id", "interval_start", "mode"],
    )
    assert len(rows) == 60 * 24
    on = rows.assign(on=rows["mode"] != "curtailed").pivot(
        index="device_id", columns="interval_start", values="on"
    )
    x = on.loc[inputs.device_ids, intervals].to_numpy().astype(np.uint8)
    objective, feasible, violations = evaluate(inputs.problem, x)
    assert feasible, violations
    if meta["forecast"].value == "last_observed":
        assert objective == pytest.approx(plan[1], rel=1e-6, abs=1e-6)
    over_cap = conn.execute(
        """select count(*) from ops.allocation_plan_facility_summary
           where plan_id = %s and mw_mining + mw_inference > cap_mw + 1e-6""",
        (plan_id,),
    ).fetchone()[0]
    assert over_cap == 0
    assert meta["gap"].value >= 0 and meta["seconds"].value > 0


def test_backtest_rows_per_policy_and_day(allocation_run, conn):
    run_id = allocation_run["allocation_backtest"]["run_id"].value
    totals = dict(
        conn.execute(
            "select policy, realized_profit_usd::float8 from ops.allocation_backtest_totals where run_id = %s",
            (run_id,),
        ).fetchall()
    )
    days = conn.execute(
        "select count(distinct day) from ops.allocation_backtest where run_id = %s", (run_id,)
    ).fetchone()[0]
    print("backtest totals", days, "days:", totals, dict(allocation_run["allocation_backtest"]))
    print("plan", dict(allocation_run["allocation_plan"]))
    assert set(totals) == {"optimizer", "always_on", "strike_price", "perfect_foresight"}
    assert days >= 1
    # The optimizer re-plans hourly with the real-time price of the hour as it settles (the signal
    # the strike rule reacts to; see kernels/planning/backtest.py) and the day-ahead forecast beyond.
    assert totals["perfect_foresight"] >= totals["optimizer"] - 1e-6
    assert totals["optimizer"] >= totals["always_on"]
    assert totals["optimizer"] >= totals["strike_price"] - 0.01 * abs(totals["strike_price"]) - 1.0
    assert totals["strike_price"] > totals["always_on"]  # the spikes are real and costly


def test_champion_forecasts_map_onto_facilities(fleet_marts, conn):
    fleet = q.load_fleet(conn)
    node = fleet.facilities.iloc[0]
    series = f"price:{node['market']}:{node['price_node_name']}"
    start = pd.Timestamp(START)
    conn.execute("delete from ml.forecasts where series in (%s, 'hashprice')", (series,))
    conn.execute("delete from ml.models where series in (%s, 'hashprice')", (series,))
    for name in (series, "hashprice"):
        conn.execute(
            "insert into ml.models (series, version, name, kind, status) values (%s, 1, 'naive', 'naive', 'champion')",
            (name,),
        )
    for step in range(8):  # 15-minute prices for two hours, a daily hashprice for two hours
        at = start + pd.Timedelta(minutes=15 * step)
        conn.execute(
            "insert into ml.forecasts values (%s, 1, 'naive', %s, %s, %s)",
            (series, start, at, 40.0 + step // 4),
        )
    for hour in range(2):
        conn.execute(
            "insert into ml.forecasts values ('hashprice', 1, 'naive', %s, %s, 0.048)",
            (start, start + pd.Timedelta(hours=hour)),
        )
    champion = q.load_champion(conn, fleet, start, start + pd.Timedelta(hours=24))
    assert champion is not None
    assert champion.prices_usd_mwh[node["facility_id"]].tolist() == [40.0, 41.0]
    assert champion.hashprice_usd_per_th_h.tolist() == pytest.approx([0.002, 0.002])
    conn.execute("delete from ml.forecasts where series in (%s, 'hashprice')", (series,))
    conn.execute("delete from ml.models where series in (%s, 'hashprice')", (series,))
