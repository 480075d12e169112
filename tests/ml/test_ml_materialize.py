"""ML assets end to end through Dagster: a small simulated fleet is ingested, then the forecasting and
anomaly assets materialize into the ml.* tables of the real database."""

import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.anomalies import LEAD_IN
from core.settings import get_settings
from orchestration.materialize import materialize
from tests.databases import Template

ML_TABLES = ("forecasts", "forecast_metrics", "models", "anomalies", "anomaly_metrics")


@pytest.fixture(scope="module")
def database_template(ml_fleet_template: Template) -> Template:
    return ml_fleet_template


@pytest.fixture(scope="module")
def ingested_fleet(module_url: str, ml_fleet_template: Template) -> Path:
    """The module's copy of the ingested fleet, its landing files in the module's landing folder."""
    landing = get_settings().landing
    shutil.copytree(ml_fleet_template.folder / "landing", landing)
    return landing


def test_ml_assets_materialize_into_ml_tables(ingested_fleet, conn):
    stages = materialize("group:forecasting or group:anomalies")
    assert [s.name for s in stages] == ["downstream"]
    assert stages[0].success, stages
    assert set(stages[0].asset_keys) == {
        "ml/forecast_models",
        "ml/forecasts",
        "ml/anomalies",
        "ml/anomaly_metrics",
        "ml/facility_anomalies",  # no facility marts in this fleet: nothing to score, not a failure
    }
    counts = {t: conn.execute(f"select count(*) from ml.{t}").fetchone()[0] for t in ML_TABLES}
    assert all(n > 0 for n in counts.values()), counts
    # every forecast series has exactly one champion, and its forecasts are readable by the plan
    series = conn.execute("select count(distinct series) from ml.models").fetchone()[0]
    champions = conn.execute("select count(*) from ml.models where status = 'champion'").fetchone()[0]
    assert series == champions > 0
    assert conn.execute("select count(*) from ml.champion_forecasts").fetchone()[0] > 0
    # the detector found labelled faults of the simulated fleet
    found, faults = conn.execute(
        "select faults_found, faults from ml.anomaly_metrics order by evaluated_at desc limit 1"
    ).fetchone()
    assert faults > 0 and found > 0
    # the first run scored each of the 3 simulated days (not only the last)
    key = dg.AssetKey(["ml", "anomalies"])

    def windows_scored() -> int:
        event = dg.DagsterInstance.get().get_latest_materialization_event(key)
        return event.asset_materialization.metadata["windows_scored"].value

    assert windows_scored() == 3
    first = metadata(key)
    assert first["detector_fitted"].value is True
    events = conn.execute("select count(*) from ml.anomalies").fetchone()[0]
    # the next run reuses the stored detector and reads only the rows since the last run plus a lead-in
    assert materialize("ml/anomalies")[0].success
    assert windows_scored() == 1
    second = metadata(key)
    assert second["detector_fitted"].value is False
    assert 0 < second["rows_scored"].value <= 40 * (LEAD_IN // timedelta(minutes=5) + 1)
    assert second["rows_scored"].value < first["rows_scored"].value / 10
    # events it sees again (inside the lead-in) are not written twice
    assert conn.execute("select count(*) from ml.anomalies").fetchone()[0] == events
    overlapping = conn.execute(
        """select count(*) from ml.anomalies a join ml.anomalies b
           on a.device_id = b.device_id and a.detector = b.detector and a.anomaly_id < b.anomaly_id
           and a.start_at < b.end_at and b.start_at < a.end_at"""
    ).fetchone()[0]
    assert overlapping == 0
    # a stored detector that cannot be read (pickled by other library versions) is refitted
    conn.execute("update ml.anomaly_detectors set detector = 'not a pickle'::bytea")
    assert materialize("ml/anomalies")[0].success
    assert metadata(key)["detector_fitted"].value is True


def metadata(key: dg.AssetKey) -> dict:
    return dg.DagsterInstance.get().get_latest_materialization_event(key).asset_materialization.metadata


def test_an_event_seen_again_extends_the_one_written(ingested_fleet, conn):
    import pandas as pd

    from assets.ml_queries import write_anomalies

    def event(start: str, end: str, score: float) -> dict:
        return {"device_id": "dev-x", "device_model": "S21", "start_at": pd.Timestamp(start),
                "end_at": pd.Timestamp(end), "metric": "temperature", "score": score,
                "severity": "warning" if score < 30 else "critical", "detector": "d", "explanation": "hot"}  # fmt: skip

    write_anomalies(conn, pd.DataFrame([event("2026-03-01 10:00", "2026-03-01 11:00", 20.0)]))
    # the next run reads from 10:30 on (its lead-in): the same incident, seen from 10:30, now to 12:00
    write_anomalies(conn, pd.DataFrame([event("2026-03-01 10:30", "2026-03-01 12:00", 35.0)]))
    # a new incident of the same device after a quiet hour is a new event
    write_anomalies(conn, pd.DataFrame([event("2026-03-01 13:30", "2026-03-01 14:00", 10.0)]))
    rows = conn.execute(
        "select start_at, end_at, score, severity from ml.anomalies where device_id = 'dev-x' order by start_at"
    ).fetchall()
    assert [(r[0].hour, r[0].minute, r[1].hour, r[2], r[3]) for r in rows] == [
        (10, 0, 12, 35.0, "critical"),
        (13, 30, 14, 10.0, "warning"),
    ]


def test_bench_ml_json_on_the_small_fleet(ingested_fleet, tmp_path):
    import json

    import numpy as np
    import pandas as pd
    from typer.testing import CliRunner

    from orchestration.cli import app

    # a folder of labelled series for the accuracy part: one 80-sd spike on a daily cycle
    times = pd.date_range("2026-03-01", periods=6 * 288, freq="5min")
    values = 50 + 10 * np.sin(2 * np.pi * np.arange(len(times)) / 288)
    values = values + np.random.default_rng(5).normal(0, 1, len(times))
    values[4 * 288 : 4 * 288 + 3] += 80
    pd.DataFrame({"timestamp": times.astype(str), "value": values}).to_csv(tmp_path / "s.csv", index=False)
    at = times[4 * 288]
    pd.DataFrame({"start": [at - pd.Timedelta("2h")], "end": [at + pd.Timedelta("2h")]}).to_csv(
        tmp_path / "s.labels.csv", index=False
    )
    result = CliRunner().invoke(
        app, ["bench", "ml", "--landing", str(ingested_fleet), "--nab", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    forecast, anomalies = payload["forecast"], payload["anomalies"]
    assert forecast["series"] and forecast["total_forecast_s"] > 0 and forecast["ratio_prophet_to_naive"] > 1
    demand = payload["demand"]
    assert demand["horizon_h"] == 24 and demand["goal_mape"] == 10.0
    assert {p["series"] for p in demand["pools"]} == {
        s["series"] for s in forecast["series"] if s["series"].startswith("demand:")
    }
    for pool in demand["pools"]:  # three days are too short for three 24 h folds: a clear reason, not a crash
        assert ("error" in pool and "too few points" in pool["error"]) or pool["mase"] > 0
    assert anomalies["devices"] == 40 and anomalies["rows"] > 0
    assert anomalies["score_latest_hour_s"] > 0 and anomalies["single_detector_s"] > 0
    accuracy = payload["anomaly_accuracy"]
    assert accuracy["series"] == 1 and accuracy["stream"]["f1"] == 1.0
    assert accuracy["ratio_f1_to_baseline"] == pytest.approx(1.0 / accuracy["baseline"]["f1"])
