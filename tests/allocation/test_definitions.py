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


def test_plan_is_scheduled_hourly():
    repo = defs.get_repository_def()
    schedule = repo.get_schedule_def("allocation_plan_hourly_schedule")
    assert schedule.cron_schedule == "5 * * * *"
    assert repo.get_job("allocation_plan_hourly")
