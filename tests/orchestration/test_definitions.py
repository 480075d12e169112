"""The code location loads, jobs resolve, and the asset keys match the snapshot (a rename shows here)."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from core.settings import PROJECT_ROOT
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


def test_code_location_loads_like_the_ui(tmp_path):
    """`dagster definitions validate` loads workspace.yaml exactly as `dagster dev` / `hcp serve` do
    (it rejects, for one, a module with two Definitions objects at module scope)."""
    dagster = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "passed validation" in done.stdout + done.stderr


def test_the_code_location_loads_without_the_heavy_libraries():
    """Every run is a new process importing the code location: numba, scipy, pyod and the Stripe SDK
    load only in the runs that use them (README, `hcp bench launch`)."""
    code = "import sys, orchestration.definitions as d; d.defs.get_repository_def(); print(*sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = {name.split(".")[0] for name in done.stdout.strip().splitlines()[-1].split()}
    assert "dagster" in loaded
    assert not loaded & {"numba", "scipy", "pyod", "stripe"}
