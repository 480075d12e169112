"""ML assets end to end through Dagster: a small simulated fleet is ingested, then the forecasting and
anomaly assets materialize into the ml.* tables of the real database."""

import shutil
from datetime import UTC, datetime

import dagster as dg
import pytest

from core.dbt import build_staging
from core.settings import get_settings
from ingestion.simulator import simulate
from orchestration.materialize import materialize
from tests.conftest import truncate_schema

END = datetime(2026, 11, 20, tzinfo=UTC)
ML_TABLES = ("forecasts", "forecast_metrics", "models", "anomalies", "anomaly_metrics")


@pytest.fixture(scope="module")
def ingested_fleet(database_url):
    landing = get_settings().landing
    shutil.rmtree(landing, ignore_errors=True)  # other tests simulate other fleets into the same folder
    simulate(landing, seed=11, facilities=1, devices=40, days=3, end=END, customers=3)
    with __import__("psycopg").connect(database_url, autocommit=True) as conn:
        truncate_schema(conn, "raw")
        truncate_schema(conn, "ml")
    stages = materialize("group:ingestion")
    assert all(stage.success for stage in stages), stages
    # the ML loaders read dbt staging; its telemetry table is incremental and may hold another
    # test's fleet: rebuild it from this fleet's raw rows
    build_staging(database_url, full_refresh=True)
    yield landing
    shutil.rmtree(landing, ignore_errors=True)


def test_ml_assets_materialize_into_ml_tables(ingested_fleet, conn):
    stages = materialize("group:forecasting or group:anomalies")
    assert [s.name for s in stages] == ["downstream"]
    assert stages[0].success, stages
    assert set(stages[0].asset_keys) == {
        "ml/forecast_models",
        "ml/forecasts",
        "ml/anomalies",
        "ml/anomaly_metrics",
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
    # the first run scored each of the 3 simulated days (not only the last); a second run only the last
    key = dg.AssetKey(["ml", "anomalies"])

    def windows_scored() -> int:
        event = dg.DagsterInstance.get().get_latest_materialization_event(key)
        return event.asset_materialization.metadata["windows_scored"].value

    assert windows_scored() == 3
    assert materialize("ml/anomalies")[0].success
    assert windows_scored() == 1


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
