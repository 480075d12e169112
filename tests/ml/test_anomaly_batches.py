"""A fleet too big for one read is scored facility by facility: the same events as the whole fleet
at once (the residuals compare devices within a facility and moment), on a fleet built through dbt."""

import dagster as dg
import pandas as pd
import pytest

from assets import ml_queries as q
from assets.anomalies import _naive, detect_window
from core import db
from core.settings import environment
from kernels.anomalies import fit_fleet
from orchestration.materialize import materialize
from tests.databases import Template


@pytest.fixture(scope="module")
def database_template(marts_fleet_template: Template) -> Template:
    return marts_fleet_template


def _sorted(events: pd.DataFrame) -> pd.DataFrame:
    columns = ["device_id", "start_at", "end_at", "metric", "severity", "score"]
    return events[columns].sort_values(columns[:4]).reset_index(drop=True)


def test_facility_by_facility_finds_the_events_of_the_whole_fleet(module_url):
    with db.connect(module_url) as conn:
        facilities = list(q.devices_by_facility(conn))
        detector, _ = fit_fleet(_naive(q.load_telemetry(conn)))
    assert len(facilities) == 2
    whole, _, rows = detect_window(module_url, detector=detector)
    parts = [detect_window(module_url, detector=detector, facilities=[f]) for f in facilities]
    assert len(whole) > 0 and sum(p[2] for p in parts) == rows
    whole, split = _sorted(whole), _sorted(pd.concat([p[0] for p in parts]))
    # the same events; their scores within 1 %: ECOD ranks a row among the rows scored with it
    pd.testing.assert_frame_equal(whole.drop(columns="score"), split.drop(columns="score"))
    assert split["score"].to_numpy() == pytest.approx(whole["score"].to_numpy(), rel=0.01)


def test_the_asset_reads_facility_by_facility_under_a_small_row_limit(module_url, conn):
    # 30 devices at 5 minutes: an hour and its 2 h lead-in are 1,080 rows; 700 forces 1 h windows
    # read one facility at a time
    with environment({"HCP_ANOMALY_SCORE_MAX_ROWS": "700"}):
        assert materialize("ml/anomalies")[0].success
        key = dg.AssetKey(["ml", "anomalies"])
        metadata = (
            dg.DagsterInstance.get().get_latest_materialization_event(key).asset_materialization.metadata
        )
    assert metadata["facility_batches"].value == 2
    hours = conn.execute(
        "select extract(epoch from max(measured_at) - min(measured_at)) / 3600 from staging.stg_raw__device_telemetry"
    ).fetchone()[0]
    assert metadata["windows_scored"].value >= min(float(hours), 7 * 24) - 1
    assert (
        conn.execute("select count(*) from ml.anomalies where device_model <> 'facility'").fetchone()[0] > 0
    )


def test_a_first_run_scores_only_the_backfill_it_is_given(module_url, conn):
    # a big fleet brought up on days of history need not score them all at once
    # (HCP_ANOMALY_BACKFILL_HOURS): the first run scores the last hours only
    from assets.anomalies import anomalies
    from assets.resources import PostgresResource

    latest = conn.execute("select max(measured_at) from staging.stg_raw__device_telemetry").fetchone()[0]
    with environment({"HCP_ANOMALY_BACKFILL_HOURS": "3"}):
        result = dg.materialize(
            [anomalies],
            resources={"postgres": PostgresResource.at(module_url)},
            instance=dg.DagsterInstance.ephemeral(),
        )
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["scored_from"].value == (latest - pd.Timedelta(hours=3)).timestamp()
    assert metadata["scored_until"].value == latest.timestamp()
