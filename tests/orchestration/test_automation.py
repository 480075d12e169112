"""Downstream work follows its inputs (declarative automation), not cron offsets; everything is on
by default and one setting turns it off."""

import os
import subprocess
import sys

import dagster as dg

from core.settings import PROJECT_ROOT
from orchestration.definitions import defs

FOLLOWERS = {
    ("ml", "forecasts"),
    ("ml", "anomalies"),
    ("ml", "facility_anomalies"),
    ("ops", "allocation_plan"),
    ("marts", "fct_usage"),
}


def test_downstream_assets_follow_their_inputs():
    graph = defs.resolve_asset_graph()
    for key in FOLLOWERS:
        condition = graph.get(dg.AssetKey(list(key))).automation_condition
        assert condition is not None and condition.get_label() == "follows_inputs", key
    assert (
        graph.get(dg.AssetKey(["raw", "device_telemetry"])).automation_condition is None
    )  # the sensor loads
    staging = [k for k in graph.get_all_asset_keys() if k.path[0] == "staging"]
    assert staging and all(graph.get(k).automation_condition is not None for k in staging)


def test_no_hourly_cron_chain_and_everything_on_by_default():
    repo = defs.get_repository_def()
    chained = {"refresh_marts", "ml_forecast_scoring_hourly", "allocation_plan_hourly", "ml_anomalies_hourly"}
    assert chained & {s.job_name for s in repo.schedule_defs} == set()
    assert "backup_nightly" in {s.job_name for s in repo.schedule_defs}
    # the fleet controller's apply schedule stays off until an operator turns it on (real machines)
    on = [s for s in repo.schedule_defs if s.job_name != "fleet_apply"]
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in on)
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in repo.sensor_defs)
    assert "automation_sensor" in {s.name for s in repo.sensor_defs}


def test_hcp_automation_off_stops_every_schedule_and_sensor():
    code = (
        "import dagster as dg; from orchestration.definitions import defs; r = defs.get_repository_def(); "
        "print(sorted({str(s.default_status) for s in [*r.schedule_defs, *r.sensor_defs]}))"
    )
    env = {**os.environ, "HCP_AUTOMATION": "off"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        done.stdout.strip().splitlines()[-1]
        == "['DefaultScheduleStatus.STOPPED', 'DefaultSensorStatus.STOPPED']"
    )
