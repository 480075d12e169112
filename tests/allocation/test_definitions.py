"""The allocation assets in the code location: group, upstream marts, jobs and schedules."""

import dagster as dg

from assets.allocation import BACKTEST, PLAN
from assets.groups import OPTIMIZATION
from assets.marts import mart_key
from orchestration.definitions import defs


def test_allocation_assets_are_in_the_optimization_group_downstream_of_the_marts():
    graph = defs.resolve_asset_graph()
    selected = dg.AssetSelection.groups(OPTIMIZATION).resolve(graph)
    assert {PLAN, BACKTEST} <= selected
    parents = graph.get(PLAN).parent_keys
    assert {mart_key("dim_devices"), mart_key("dim_facilities"), mart_key("fct_device_hourly")} <= parents
    assert dg.AssetKey(["ml", "forecasts"]) in parents
    assert all(parent in graph.get_all_asset_keys() for parent in parents)


def test_plan_follows_the_forecasts_not_a_cron_offset():
    repo = defs.get_repository_def()
    plan = defs.resolve_asset_graph().get(PLAN)
    assert plan.automation_condition is not None and plan.automation_condition.get_label() == "follows_inputs"
    assert plan.freshness_policy is not None
    assert "allocation_plan_hourly" not in {s.job_name for s in repo.schedule_defs}
    assert repo.get_job("allocation_plan_hourly")  # still there for a manual re-plan
