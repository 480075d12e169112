"""`hcp bench scale` on a tiny fleet, so the benchmark cannot rot; and its split of the landing files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from assets.anomalies import LEAD_IN
from benchmarks.scale import STAGES, _run_child, format_table, run_benchmark, split_landing
from ingestion.simulator.run import simulate

# a whole scale cycle in child processes: handed out first (tests/conftest.py)
pytestmark = pytest.mark.slow(seconds=120)

END = datetime(2026, 3, 2, tzinfo=UTC)


def test_split_keeps_history_and_the_cycle_hour_apart(tmp_path):
    simulate(tmp_path / "sim", devices=20, days=1, end=END, workers=1)
    cycle = END - timedelta(hours=1)
    rows = split_landing(tmp_path / "sim", tmp_path / "history", tmp_path / "hour", cycle, history_hours=3)
    # 20 devices (ASICs and 8-GPU nodes' GPUs) every 5 minutes: 12 samples an hour per device and metric
    assert rows["hour"] > 0 and rows["history"] == 3 * rows["hour"]
    hour_files = sorted(p.relative_to(tmp_path / "hour").as_posix() for p in (tmp_path / "hour").rglob("*.*"))
    assert hour_files == ["telemetry/dcgm/2026-03-01T23.prom", "telemetry/miner/2026-03-01T23.jsonl"]
    for line in (tmp_path / "hour/telemetry/miner/2026-03-01T23.jsonl").read_text().splitlines():
        when = json.loads(line)["summary"]["STATUS"][0]["When"]
        assert cycle.timestamp() <= when < END.timestamp()
    assert (tmp_path / "history/reference/devices.csv").exists()


def test_split_of_several_days_writes_no_empty_files(tmp_path):
    # a day of history before the cycle hour spans two daily files: the earlier day has no row of
    # the cycle hour and must not leave an empty hour file (the loader refuses an empty file)
    simulate(tmp_path / "sim", devices=20, days=2, end=END, workers=1)
    cycle = END - timedelta(hours=1)
    split_landing(tmp_path / "sim", tmp_path / "history", tmp_path / "hour", cycle, history_hours=24)
    hour_files = sorted(p.relative_to(tmp_path / "hour").as_posix() for p in (tmp_path / "hour").rglob("*.*"))
    assert hour_files == ["telemetry/dcgm/2026-03-01T23.prom", "telemetry/miner/2026-03-01T23.jsonl"]
    assert all(p.stat().st_size > 0 for p in (tmp_path / "history").rglob("*.*"))


@pytest.mark.timeout(120)
def test_a_stage_that_writes_much_to_stderr_does_not_hang_the_benchmark(tmp_path, monkeypatch):
    # a stage's child logs to stderr (Dagster logs every event); a pipe nobody reads while waiting
    # for the child fills at 64 KB and the child blocks for ever. Here Python's verbose mode writes
    # a line per import (megabytes for Dagster) before the unknown stage fails.
    monkeypatch.setenv("PYTHONVERBOSE", "1")
    with pytest.raises(RuntimeError, match="stage nothing failed") as failed:
        _run_child("nothing", "postgresql://nowhere/none", tmp_path, tmp_path)
    log = tmp_path / "nothing.log"
    assert str(log) in str(failed.value)
    assert log.stat().st_size > 64 * 1024 and "KeyError: 'nothing'" in log.read_text()


def test_split_of_hourly_files_moves_them_by_their_hour(tmp_path):
    # the benchmark simulates only the hours it uses, an hour per file: the same rows as the split of
    # the daily files, and no file of an hour before the history
    cycle = END - timedelta(hours=1)
    simulate(tmp_path / "daily", devices=20, days=1, end=END, workers=1)
    daily = split_landing(tmp_path / "daily", tmp_path / "dh", tmp_path / "dc", cycle, history_hours=3)
    simulate(tmp_path / "sim", devices=20, days=1, end=END, workers=1, telemetry_hours=5)
    rows = split_landing(tmp_path / "sim", tmp_path / "history", tmp_path / "hour", cycle, history_hours=3)
    assert rows == daily
    hour_files = sorted(p.relative_to(tmp_path / "hour").as_posix() for p in (tmp_path / "hour").rglob("*.*"))
    assert hour_files == ["telemetry/dcgm/2026-03-01T23.prom", "telemetry/miner/2026-03-01T23.jsonl"]
    history = sorted(p.name for p in (tmp_path / "history/telemetry/miner").iterdir())
    assert history == ["2026-03-01T20.jsonl", "2026-03-01T21.jsonl", "2026-03-01T22.jsonl"]


@pytest.mark.fresh_database
def test_tiny_fleet_runs_one_cycle(database_url):
    messages: list[str] = []
    result = run_benchmark(database_url, devices=(200,), hours=(2,), end=END, progress=messages.append)
    fleet = result["fleets"][0]
    assert set(fleet["stages"]) == set(STAGES)
    assert all(s["seconds"] > 0 and s["peak_rss_bytes"] > 10 * 2**20 for s in fleet["stages"].values())
    # each stage's own peak, not the size of the process it was started from (all equal before)
    assert len({s["peak_rss_bytes"] for s in fleet["stages"].values()}) > 1
    # the load stage read the cycle hour's telemetry: one row per miner line, one per GPU and time from
    # the DCGM lines (one line per metric)
    assert 0 < fleet["stages"]["load"]["rows"] < fleet["telemetry_rows"]["hour"]
    assert fleet["database_bytes_per_day"] > 0 and result["per_device_ratio"] == 1.0
    # the cycle scores anomalies on the new hour and a lead-in, with the detector fitted before it
    lead_in_hours = LEAD_IN / timedelta(hours=1)
    history_rows = fleet["history"]["anomalies_fit"]["rows"]
    assert 0 < fleet["stages"]["anomalies"]["rows"] <= history_rows * (1 + lead_in_hours) / 2 * 1.01
    table = format_table(result)
    assert "cycle s" in table and "plan peak RSS MB" in table and "per-device cost ratio" in table
    assert any("cycle stage plan" in m for m in messages)
