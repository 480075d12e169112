"""A load killed inside its COPY (or its final INSERT) leaves the tables as they were; the rerun completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.ingestion import write_telemetry_csv
from ingestion.loader import ingest_file
from tests.ingestion.test_loader import snapshot

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

ROWS = 600_000
_LOADER = (
    "import sys; from ingestion.loader import ingest_file; ingest_file(sys.argv[1], 'telemetry', sys.argv[2])"
)


def _register(conn, device_ids: list[str]) -> None:
    load_id = conn.execute(
        "insert into raw.load_log (kind, source_file) values ('devices', 'test') returning load_id"
    )
    load_id = load_id.fetchone()[0]
    with conn.cursor().copy(
        "copy raw.devices (device_id, facility_id, kind, model, nominal_power_kw, load_id) from stdin"
    ) as copy:
        for device_id in device_ids:
            copy.write_row((device_id, "fac", "asic", "m", 3.0, load_id))


def _wait_for_copy(
    conn, process: subprocess.Popen, timeout: float = 60, pattern: str = "copy%device_telemetry%"
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        active = conn.execute(
            """select count(*) from pg_stat_activity where state = 'active' and query ilike %s
               and datname = current_database()""",
            (pattern,),
        ).fetchone()[0]
        if active:
            return True
        time.sleep(0.005)
    return False


@pytest.mark.slow
@pytest.mark.parametrize(
    "phase",
    [
        "copy%device_telemetry%",  # streaming chunks into the load's temporary table
        'insert into "raw"."device_telemetry"%',  # moving them into the partitioned table
    ],
)
def test_kill_during_copy_leaves_previous_state(raw, database_url, tmp_path, phase):
    path = tmp_path / "big.csv"
    _register(raw, write_telemetry_csv(path, ROWS, devices=500))
    before, logs = snapshot(raw), raw.execute("select count(*) from raw.load_log").fetchone()[0]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen([sys.executable, "-c", _LOADER, database_url, str(path)], env=env)
    try:
        assert _wait_for_copy(raw, process, pattern=phase), f"the load never reached {phase!r}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    # the server notices the dead client and rolls its transaction back
    deadline = time.monotonic() + 30
    while raw.execute(
        """select count(*) from pg_stat_activity where query ilike %s
           and pid <> pg_backend_pid() and datname = current_database()""",
        (phase,),
    ).fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert snapshot(raw) == before
    assert raw.execute("select count(*) from raw.load_log").fetchone()[0] == logs  # no half-recorded load
    result = ingest_file(database_url, "telemetry", path)
    assert (result.loaded, result.quarantined, result.duplicates_skipped) == (ROWS, 0, 0)
    assert raw.execute("select count(*) from raw.device_telemetry").fetchone()[0] == ROWS
