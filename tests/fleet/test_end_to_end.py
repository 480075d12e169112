"""End to end, out of process: fake miners and a GPU exporter are polled by ``hcp fleet poll`` in a
subprocess, a plan is built by the real allocation kernel and applied by ``hcp fleet apply
--execute`` (the fake miners wake up), then a real-time price spike is loaded and the next apply
curtails them at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fleet.conftest import loopback
from tests.fleet.fakes import FakeAntminer, FakeExporter
from tests.fleet.helpers import load_price_spike, solve_plan

HCP = Path(sys.executable).parent / "hcp"


def hcp(*args: str) -> dict:
    done = subprocess.run(
        [str(HCP), *args, "--json"], capture_output=True, text=True, timeout=300, env=os.environ
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_poll_plan_apply_then_price_spike_curtails(fleet_db, staging_views, tmp_path):
    fleet_db.execute("truncate ops.allocation_plans cascade")
    with (
        FakeAntminer(loopback(), sleeping=True, power_w=3500) as a1,
        FakeAntminer(loopback(), sleeping=True, power_w=3400) as a2,
        FakeExporter("gpun-001") as exporter,
    ):
        inventory = tmp_path / "fleet.toml"
        inventory.write_text(
            f'[[miners]]\ndevice_id = "asic-0001"\naddress = "{a1.ip}"\n\n'
            f'[[miners]]\ndevice_id = "asic-0002"\naddress = "{a2.ip}"\n\n'
            f'[[gpu_nodes]]\nnode = "gpun-001"\nurl = "{exporter.url}"\n'
        )
        polled = hcp("fleet", "poll", "--inventory", str(inventory))
        assert (polled["miners"], polled["miners_reachable"], polled["gpu_nodes_reachable"]) == (2, 2, 1)
        states = dict(fleet_db.execute("select device_id, state from raw.fleet_status").fetchall())
        assert states["asic-0001"] == states["asic-0002"] == "sleeping"

        # Cheap power, good hashprice: the kernel plans both miners on.
        solve_plan(fleet_db, {"asic-0001": (3.5, 200.0), "asic-0002": (3.4, 186.0)}, 30.0, 0.05)
        dry = hcp("fleet", "apply", "--inventory", str(inventory))
        assert dry["mode"] == "dry_run" and dry["decided"] == 2 and a1.sleeping and a2.sleeping
        applied = hcp("fleet", "apply", "--execute", "--inventory", str(inventory))
        assert (applied["applied"], applied["failed"]) == (2, 0)
        assert not a1.sleeping and not a2.sleeping  # the machines changed state

        again = hcp("fleet", "poll", "--inventory", str(inventory))
        assert again["alerts_raised"] == 0  # observed as commanded
        states = dict(
            fleet_db.execute(
                "select distinct on (device_id) device_id, state from raw.fleet_status order by device_id, ts desc"
            ).fetchall()
        )
        assert states["asic-0001"] == states["asic-0002"] == "mining"

        # The real-time price at the facility's node spikes to 5,000 USD/MWh.
        load_price_spike(fleet_db, tmp_path)
        curtailed = hcp("fleet", "apply", "--execute", "--inventory", str(inventory))
        assert sorted((c["device_id"], c["action"], c["rule"]) for c in curtailed["commands"]) == [
            ("asic-0001", "sleep", "curtail_price_spike"),
            ("asic-0002", "sleep", "curtail_price_spike"),
        ]  # at once, although both changed a moment ago (dwell) and the plan says mine
        assert a1.sleeping and a2.sleeping
    latency = fleet_db.execute(
        """select extract(epoch from max(c.finished_at) - max(l.finished_at)) from ops.fleet_commands c,
           raw.load_log l where c.rule = 'curtail_price_spike' and l.source_file like '%%spike.csv'"""
    ).fetchone()[0]
    print(
        f"price loaded -> curtail applied: {latency:.2f} s, of which the controller run {curtailed['seconds']:.2f} s"
    )
    audit = fleet_db.execute(
        "select count(*) from ops.audit_log where action = 'fleet.command.applied'"
    ).fetchone()[0]
    assert audit >= 4
