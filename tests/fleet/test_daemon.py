"""End to end through the real Dagster daemon: a code server and ``dagster-daemon`` on the test's
database, with only the fleet's poll schedule and controller sensor switched on. Fake miners are
polled by the daemon's scheduled runs, the controller sensor applies the plan (the fake miners wake
up), and a real-time price spike makes the sensor curtail them at once."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import psycopg
import pytest

from core.settings import PROJECT_ROOT, get_settings
from tests.fleet.conftest import loopback
from tests.fleet.fakes import FakeAntminer
from tests.fleet.helpers import load_price_spike, solve_plan

# the daemon against simulated miners: handed out first (tests/conftest.py)
pytestmark = pytest.mark.slow(seconds=140)

DAGSTER = Path(sys.executable).parent / "dagster"
# Each step is a queued run started as a new process: minutes on a loaded machine, seconds on a quiet one.
TIMEOUT = 900


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(what: str, done: Callable[[], bool], timeout: float, logs: Path) -> float:
    """Seconds until ``done()``; fails with the daemon's log tail after ``timeout``."""
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            tail = (logs / "daemon.log").read_text()[-4000:] if (logs / "daemon.log").exists() else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")
        time.sleep(2)
    return time.monotonic() - started


def _start(kind: str, name: str, workspace: Path) -> None:
    done = subprocess.run(
        [str(DAGSTER), kind, "start", name, "-w", str(workspace)],
        cwd=PROJECT_ROOT, env=os.environ, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_daemon_polls_applies_and_curtails_on_a_price_spike(
    fleet_db: psycopg.Connection, staging_views: str, database_url: str, tmp_path: Path
):
    from orchestration.serve import running

    fleet_db.execute("truncate ops.allocation_plans cascade")
    solve_plan(fleet_db, {"asic-0001": (3.5, 200.0), "asic-0002": (3.4, 186.0)}, 30.0, 0.05)
    home = tmp_path / "home"
    with (
        FakeAntminer(loopback(), sleeping=True, power_w=3500) as a1,
        FakeAntminer(loopback(), sleeping=True, power_w=3400) as a2,
    ):
        inventory = tmp_path / "fleet.toml"
        inventory.write_text(
            f'[[miners]]\ndevice_id = "asic-0001"\naddress = "{a1.ip}"\n\n'
            f'[[miners]]\ndevice_id = "asic-0002"\naddress = "{a2.ip}"\n'
        )
        environment = {
            "HCP_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "DATABASE_URL": database_url,
            "HCP_GRPC_PORT": str(_free_port()), "HCP_AUTOMATION": "off",
            "HCP_FLEET_INVENTORY": str(inventory), "HCP_FLEET_EXECUTE": "true",
        }  # fmt: skip
        with mock.patch.dict(os.environ, environment):
            get_settings.cache_clear()
            try:
                with running(database_url, with_webserver=False) as platform:
                    workspace = home / "dagster" / "workspace.yaml"
                    # Automation is off, so nothing else runs: only what the test switches on.
                    _start("schedule", "fleet_poll_schedule", workspace)
                    _start("sensor", "fleet_controller_sensor", workspace)

                    polled = _wait(
                        "the daemon's first poll",
                        lambda: fleet_db.execute("select count(*) from raw.fleet_status").fetchone()[0] >= 2,
                        TIMEOUT, platform.logs,
                    )  # fmt: skip
                    woken = _wait(
                        "the controller sensor to wake both miners",
                        lambda: not a1.sleeping and not a2.sleeping, TIMEOUT, platform.logs,
                    )  # fmt: skip
                    print(f"first poll after {polled:.0f} s, miners woken {woken:.0f} s later")

                    load_price_spike(fleet_db, tmp_path)
                    curtailed = _wait(
                        "the controller sensor to curtail on the price spike",
                        lambda: a1.sleeping and a2.sleeping, TIMEOUT, platform.logs,
                    )  # fmt: skip
                    print(f"price spike loaded -> both miners asleep: {curtailed:.0f} s")
                    assert platform.alive()
                    # Read before the platform stops: shutting the daemon down may log its own errors.
                    log = re.sub(r"\x1b\[[0-9;]*m", "", (platform.logs / "daemon.log").read_text())
            finally:
                get_settings.cache_clear()
    rules = fleet_db.execute(
        """select device_id, action, rule, mode, status from ops.fleet_commands
           where status = 'applied' order by command_id"""
    ).fetchall()
    assert sorted(r[:3] for r in rules) == [
        ("asic-0001", "sleep", "curtail_price_spike"),
        ("asic-0001", "wake", "plan"),
        ("asic-0002", "sleep", "curtail_price_spike"),
        ("asic-0002", "wake", "plan"),
    ]  # each change sent once, although the sensor asks every 15 s
    assert {r[3] for r in rules} == {"execute"}
    assert " - ERROR - " not in log, log[-4000:]
