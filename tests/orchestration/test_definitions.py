"""The code location loads, jobs resolve, and the asset keys match the snapshot (a rename shows here)."""

import os
from pathlib import Path

import dagster as dg

from orchestration.definitions import defs

SNAPSHOT = Path(__file__).with_name("asset_keys.txt")  # regenerate: HCP_UPDATE_SNAPSHOT=1 pytest ...


def asset_keys() -> set[str]:
    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


def test_definitions_load_and_jobs_resolve():
    repo = defs.get_repository_def()
    for job in repo.get_all_jobs():
        assert job.name
    assert {"ingest_daily", "ingest_reference"} <= {job.name for job in repo.get_all_jobs()}
    assert repo.get_sensor_def("landing_folder_sensor")


def test_asset_keys_snapshot():
    """A renamed, added or dropped asset shows up here and in review."""
    current = sorted(asset_keys())
    if os.environ.get("HCP_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text("\n".join(current) + "\n")
    assert current == SNAPSHOT.read_text().split()


def test_daily_assets_are_partitioned_by_day():
    graph = defs.resolve_asset_graph()
    telemetry = graph.get(dg.AssetKey(["raw", "device_telemetry"]))
    assert isinstance(telemetry.partitions_def, dg.DailyPartitionsDefinition)
    assert graph.get(dg.AssetKey(["raw", "devices"])).partitions_def is None
