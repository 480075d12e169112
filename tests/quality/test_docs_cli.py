"""Suites JSON in sync with the code, Data Docs rendering, and the ``hcp quality`` commands."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from expectations.context import SUITES_DIR
from expectations.docs import build_docs, suite_json
from expectations.suites import all_frames
from orchestration.cli import app
from tests.quality import data

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own


def test_committed_suite_json_matches_the_code():
    for frame in all_frames():
        path = SUITES_DIR / f"{frame.suite}.json"
        assert path.exists(), f"{path} missing: run `hcp quality suites`"
        assert json.loads(path.read_text()) == json.loads(json.dumps(suite_json(frame.suite), default=str)), (
            f"{path} is stale: run `hcp quality suites`"
        )


def test_context_config_has_analytics_off():
    config = (SUITES_DIR.parent / "great_expectations.yml").read_text()
    assert "analytics_enabled: false" in config


def test_data_docs_rendered(qconn, quality_url, tmp_path):
    data.open_load(qconn)
    data.insert_prices(qconn, data.price_rows())
    data.insert_devices(qconn)
    data.insert_telemetry(qconn, data.telemetry_rows())
    result = build_docs(quality_url, tmp_path / "docs", data.DAY)
    assert result["day"] == data.DAY
    assert result["suites"]["raw_energy_prices"] == "passed"
    assert result["suites"]["raw_device_telemetry"] == "passed"
    assert (tmp_path / "docs" / "index.html").exists()
    pages = list((tmp_path / "docs" / "validations").rglob("*.html"))
    assert len(pages) >= 2


def test_cli_quality_run_fails_on_a_defect(qconn, quality_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", quality_url)
    from core.settings import get_settings

    get_settings.cache_clear()
    data.open_load(qconn)
    data.insert_customers(qconn)
    data.insert_events(qconn, [*data.CLEAN_EVENTS, ("e9", "w1", "cust-1", "started", 55)])
    try:
        result = CliRunner().invoke(
            app, ["quality", "run", "--day", data.DAY, "--check", "workload_events_suite", "--json"]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["failed"] == 1 and payload["checks"][0]["status"] == "FAILED"
    assert qconn.execute("select count(*) from ops.check_results where not passed").fetchone()[0] == 1
