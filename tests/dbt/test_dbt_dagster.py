"""The dbt project as Dagster assets: keys, groups, source mapping, checks, and a real materialization."""

from __future__ import annotations

import dagster as dg

from assets.marts import DbtWindowConfig, dbt_build_args, defs, hcp_dbt_models, mart_key


def test_models_are_grouped_by_folder_and_sources_map_to_raw_assets():
    specs = list(hcp_dbt_models.specs)
    groups = {spec.key.path[0]: spec.group_name for spec in specs}
    assert groups == {"staging": "staging", "intermediate": "intermediate", "marts": "marts"}
    deps = {dep.asset_key for spec in specs for dep in spec.deps}
    assert dg.AssetKey(["raw", "device_telemetry"]) in deps
    assert dg.AssetKey(["raw", "energy_prices"]) in deps
    assert mart_key("fct_usage") in {spec.key for spec in specs}


def test_dbt_tests_are_asset_checks():
    checks = {check.key.name for check in hcp_dbt_models.check_specs}
    assert any(name.startswith("unique_dim_devices_device_id") for name in checks)
    assert any(name.startswith("non_negative_fct_usage_amount_usd") for name in checks)


def test_definitions_resolve_with_the_dbt_resource():
    graph = defs.resolve_asset_graph()
    assert mart_key("fct_exec_kpis_daily") in graph.get_all_asset_keys()
    assert "dbt" in defs.resources


def test_window_config_becomes_dbt_vars():
    assert dbt_build_args(DbtWindowConfig()) == ["build"]
    args = dbt_build_args(DbtWindowConfig(start="2026-03-08T00:00:00Z", end="2026-03-09T00:00:00Z"))
    assert args[:2] == ["build", "--vars"] and "start: '2026-03-08T00:00:00Z'" in args[2]


def test_materialize_a_mart_through_dagster(marts_fleet):
    """The resource resolves the database at run time (DATABASE_URL of the test session)."""
    result = dg.materialize(
        [hcp_dbt_models],
        selection=[mart_key("dim_customers"), mart_key("dim_facilities")],
        resources={"dbt": defs.resources["dbt"]},
    )
    assert result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert mart_key("dim_customers") in materialized
