"""The Dagster assets the schedules run, materialized out of process by the dagster CLI: the poll
loads the fake miner, the controller asset runs dry by default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.settings import PROJECT_ROOT
from tests.fleet.conftest import loopback
from tests.fleet.fakes import FakeAntminer
from tests.fleet.helpers import write_modes

DAGSTER = Path(sys.executable).parent / "dagster"


def test_poll_and_apply_assets_out_of_process(fleet_db, staging_views, tmp_path):
    fleet_db.execute("truncate ops.allocation_plans cascade")
    write_modes(fleet_db, {"asic-0001": "curtailed"})
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with FakeAntminer(loopback()) as fake:
        inventory = tmp_path / "fleet.toml"
        inventory.write_text(f'[[miners]]\ndevice_id = "asic-0001"\naddress = "{fake.ip}"\n')
        env = {**os.environ, "DAGSTER_HOME": str(home), "HCP_FLEET_INVENTORY": str(inventory)}
        done = subprocess.run(
            [str(DAGSTER), "asset", "materialize", "-m", "orchestration.definitions",
             "--select", "fleet/fleet_status,ops/fleet_commands"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert not fake.sleeping  # the apply asset is a dry run unless configured
    assert fleet_db.execute("select device_id, state from raw.fleet_status").fetchall() == [
        ("asic-0001", "mining")
    ]
    assert fleet_db.execute("select action, mode, status from ops.fleet_commands").fetchall() == [
        ("sleep", "dry_run", "planned")
    ]
