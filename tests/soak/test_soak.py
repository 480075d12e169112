"""A short soak: the served platform (code server + daemon, Dagster storage in PostgreSQL) left alone
while a small fleet's landing files arrive; the daemon loads them and the automation rebuilds the
marts, forecasts and plan. Everything real: the processes, the database, dbt.

The checks themselves are tested first, on what a broken soak would observe: a file loaded twice, a
failed run, an ERROR in the daemon's log, a mart that differs from the batch rebuild."""

import json
from pathlib import Path

import pytest

from orchestration.soak import compare_fingerprints, log_errors, run_soak, verdict

# the served platform for minutes: handed out first (tests/conftest.py)
pytestmark = pytest.mark.slow(seconds=420)

GOOD = {"files": {"a.csv": 1, "b.csv": 1}, "failed_runs": 0, "forecasts": [20.0], "plan": [21.0],
        "last_load": 10.0, "errors": [], "settled": True}  # fmt: skip


def judged(**changes) -> dict[str, bool]:
    seen = {**GOOD, **changes}
    return verdict(seen["files"], seen["failed_runs"], seen["forecasts"], seen["plan"], seen["last_load"],
                   seen["errors"], seen["settled"])  # fmt: skip


def test_the_checks_fail_on_what_a_broken_soak_observes(tmp_path: Path):
    assert all(judged().values())
    assert judged(files={"a.csv": 2, "b.csv": 1})["every_file_loaded_once"] is False
    assert judged(files={"a.csv": 0, "b.csv": 1})["every_file_loaded_once"] is False
    assert judged(failed_runs=1)["no_failed_runs"] is False
    assert judged(plan=[5.0])["plan_fresh"] is False
    assert judged(forecasts=[])["forecasts_fresh"] is False
    (tmp_path / "daemon.log").write_text(
        "2026-12-03 16:12:34 +0000 - dagster.daemon.SensorDaemon - INFO - Checking for new runs\n"
        "2026-12-03 16:12:35 +0000 - dagster.daemon.SensorDaemon - ERROR - Sensor failed\n"
    )
    errors = log_errors(tmp_path)
    assert len(errors) == 1 and "Sensor failed" in errors[0]
    assert judged(errors=errors)["no_errors_in_logs"] is False
    marts = {"fct_usage": {"rows": 10, "energy_kwh": "12.500000"}}
    assert compare_fingerprints(marts, {"fct_usage": dict(marts["fct_usage"])})["equal"] is True
    off = compare_fingerprints(marts, {"fct_usage": {"rows": 10, "energy_kwh": "12.400000"}})
    assert off["equal"] is False and list(off["differing"]) == ["fct_usage"]


def test_short_soak_daemon_does_everything(database_url):
    report = run_soak(database_url, hours=3, speed=180, devices=2, timeout=1500)
    failed = {name: passed for name, passed in report["checks"].items() if not passed}
    if failed:  # pytest.fail prints the whole message (an assertion's is cut): the failed runs' errors
        keys = ("failed_run_errors", "log_errors", "files_not_loaded_once", "batch_rebuild")
        pytest.fail(f"checks failed: {sorted(failed)}\n" + json.dumps({k: report[k] for k in keys}, indent=1))
    assert report["files"] > 5
    assert report["lag_file_to_mart_seconds"]["files"] == report["files"]
