"""Every sensor and schedule evaluated out of process, the way the daemon does: through a code server
started with ``dagster api grpc`` and the gRPC calls the daemon makes for each tick.

Calling a sensor's Python function in-process misses what only the daemon path checks (for one, a
RunRequest from a sensor without a target is an error there), so this goes through the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.timestamp import TimestampWithTimezone
from dagster._core.remote_representation.external_data import SensorExecutionErrorSnap
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import GrpcServerTarget
from dagster._grpc.client import DagsterGrpcClient

from core.settings import PROJECT_ROOT

LOCATION = "hcp"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


AHEAD = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d")


def _landing(root: Path) -> None:
    """A day of prices, one telemetry file, a reference file: enough to make the sensor ask for runs."""
    (root / "prices" / "ercot_rt").mkdir(parents=True)
    (root / "prices" / "ercot_rt" / "rtm_spp_20261118.csv").write_text("x\n")
    (root / "telemetry" / "dcgm").mkdir(parents=True)
    (root / "telemetry" / "dcgm" / "2026-11-18.prom").write_text("x\n")
    (root / "reference").mkdir()
    (root / "reference" / "devices.csv").write_text("x\n")
    # days Dagster has no partition for: three days ahead (a feed ahead of UTC), before the first
    (root / "site_meter").mkdir()
    (root / "site_meter" / f"{AHEAD}.csv").write_text("x\n")
    (root / "site_meter" / "2019-01-01.csv").write_text("x\n")
    old = time.time() - 3600  # settled: not being written any more
    for path in root.rglob("*"):
        os.utime(path, (old, old))


@pytest.fixture(scope="module")
def code_server(module_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    home = tmp_path_factory.mktemp("daemon-home")
    _landing(home / "landing")
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = {
        **os.environ,
        "HCP_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "DATABASE_URL": module_url,
    }
    env["PATH"] = "/usr/bin:/bin"  # the code location must not depend on the venv's bin/ being on PATH
    log = (home / "grpc.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "api", "grpc", "-m", "orchestration.definitions",
         "-h", "127.0.0.1", "-p", str(port), "--location-name", LOCATION],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    deadline = time.monotonic() + 240
    while True:
        try:
            client.ping("")
            break
        except Exception:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("code server did not start:\n" + (home / "grpc.log").read_text()[-4000:])
            time.sleep(1)
    try:
        yield port, dagster_home
    finally:
        server.send_signal(signal.SIGINT)  # it shuts down at once; on SIGTERM it waited the whole 30 s
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def location(code_server):
    port, dagster_home = code_server
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        target = GrpcServerTarget(host="127.0.0.1", port=port, socket=None, location_name=LOCATION)
        with WorkspaceProcessContext(instance, target) as workspace:
            context = workspace.create_request_context()
            code_location = context.get_code_location(LOCATION)
            (repo,) = code_location.get_repositories().values()
            yield instance, code_location, repo


def _sensors(repo):
    # Declarative-automation sensors are evaluated by the daemon itself, not through the code server.
    return [s for s in repo.get_sensors() if not s.sensor_type.is_handled_by_asset_daemon]


def test_every_sensor_evaluates_through_the_code_server(location):
    instance, code_location, repo = location
    names = [sensor.name for sensor in _sensors(repo)]
    assert "landing_folder_sensor" in names
    failures = {}
    for sensor in _sensors(repo):
        try:
            data = code_location.get_sensor_execution_data(
                instance, repo.handle, sensor.name, None, None, None, None, None
            )
        except Exception as err:  # the daemon logs exactly this and the tick fails
            failures[sensor.name] = str(err)[:600]
            continue
        if isinstance(data, SensorExecutionErrorSnap):
            failures[sensor.name] = data.error.to_string()[:600]
    assert failures == {}


def test_landing_sensor_asks_for_runs_of_a_job(location):
    instance, code_location, repo = location
    data = code_location.get_sensor_execution_data(
        instance, repo.handle, "landing_folder_sensor", None, None, None, None, None
    )
    jobs = {job.name for job in repo.get_all_jobs()}
    assert data.run_requests, data.skip_message
    for request in data.run_requests:
        assert request.job_name in jobs
        assert request.partition_key not in (AHEAD, "2019-01-01")  # they wait, or are refused


def test_every_schedule_evaluates_through_the_code_server(location):
    instance, code_location, repo = location
    schedules = list(repo.get_schedules())
    assert schedules
    when = TimestampWithTimezone(datetime(2026, 11, 18, 12, tzinfo=UTC).timestamp(), "UTC")
    failures = {}
    for schedule in schedules:
        try:
            data = code_location.get_schedule_execution_data(instance, repo.handle, schedule.name, when, None)
        except Exception as err:
            failures[schedule.name] = str(err)[:600]
            continue
        for request in data.run_requests or []:
            job = request.job_name or schedule.job_name
            assert job in {j.name for j in repo.get_all_jobs()}, (schedule.name, job)
    assert failures == {}


def test_fleet_schedules_skip_without_an_inventory(location):
    """Without an inventory the poll has nothing to do: no run (each is a process importing the whole
    code location, every minute), a skip reason instead."""
    instance, code_location, repo = location
    when = TimestampWithTimezone(datetime(2026, 11, 18, 12, tzinfo=UTC).timestamp(), "UTC")
    for name in ("fleet_poll_schedule", "market_prices_schedule"):
        data = code_location.get_schedule_execution_data(instance, repo.handle, name, when, None)
        assert not data.run_requests, name
        assert "inventory" in (data.skip_message or ""), name
