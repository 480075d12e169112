"""The code location loads, jobs resolve, and the asset keys match the snapshot (a rename shows here)."""

import dagster as dg

from orchestration.definitions import defs

EXPECTED_RAW_KEYS = {
    "raw/btc_economics",
    "raw/customers",
    "raw/demand_response_events",
    "raw/device_telemetry",
    "raw/devices",
    "raw/energy_prices",
    "raw/facilities",
    "raw/price_nodes",
    "raw/rate_cards",
    "raw/site_meter",
    "raw/workload_events",
}


def asset_keys() -> set[str]:
    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


def test_definitions_load_and_jobs_resolve():
    repo = defs.get_repository_def()
    for job in repo.get_all_jobs():
        assert job.name
    assert {"ingest_daily", "ingest_reference"} <= {job.name for job in repo.get_all_jobs()}
    assert repo.get_sensor_def("landing_folder_sensor")


def test_raw_asset_keys_snapshot():
    assert {key for key in asset_keys() if key.startswith("raw/")} == EXPECTED_RAW_KEYS


def test_daily_assets_are_partitioned_by_day():
    graph = defs.resolve_asset_graph()
    telemetry = graph.get(dg.AssetKey(["raw", "device_telemetry"]))
    assert isinstance(telemetry.partitions_def, dg.DailyPartitionsDefinition)
    assert graph.get(dg.AssetKey(["raw", "devices"])).partitions_def is None
