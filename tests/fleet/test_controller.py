"""The controller against fake miners: dry-run by default, execution, audit, alerts when a machine
does not do what it was told, an immediate curtail on a power-cap breach, and the GPU hook."""

from __future__ import annotations

import asyncio
import stat

import pytest

from ingestion.live.controller import apply_plan, check_commands
from ingestion.live.devices import HookAdapter, command_miner
from ingestion.live.fleet import poll_fleet
from ingestion.live.inventory import FleetSettings, Inventory, MinerTarget
from ingestion.live.miners import MinerPool
from ingestion.loader import ingest_file
from tests.fleet.conftest import loopback
from tests.fleet.fakes import FakeAntminer, FakeBitaxe, FakeProto
from tests.fleet.helpers import age_commands, load_price_spike, write_modes

SETTINGS = FleetSettings(timeout_s=5, min_dwell_minutes=30, max_changes=10)


def commands(conn):
    return conn.execute(
        "select device_id, action, rule, mode, status, result from ops.fleet_commands order by command_id"
    ).fetchall()


@pytest.fixture()
def db(fleet_db, staging_views):
    fleet_db.execute("truncate ops.allocation_plans cascade")
    return fleet_db


def test_dry_run_is_the_default_and_sends_nothing(db, database_url, tmp_path):
    first_audit = db.execute("select coalesce(max(audit_id), 0) from ops.audit_log").fetchone()[0]
    with FakeAntminer(loopback()) as fake:
        inventory = Inventory(miners=[MinerTarget(fake.ip, "asic-0001")])
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        write_modes(db, {"asic-0001": "curtailed"})
        result = apply_plan(database_url, inventory, SETTINGS)
        assert result.mode == "dry_run" and result.decided == 1
        assert not fake.sleeping
        assert not any("set_miner_conf" in r for r in fake.requests)
    assert commands(db) == [("asic-0001", "sleep", "plan", "dry_run", "planned", None)]
    audit = db.execute(
        "select action, entity from ops.audit_log where action like 'fleet.%%' and audit_id > %s",
        (first_audit,),
    ).fetchall()
    assert audit == [("fleet.command.planned", "device:asic-0001")]


def test_execute_sleeps_and_wakes_and_checks_against_the_next_poll(db, database_url, tmp_path):
    first_audit = db.execute("select coalesce(max(audit_id), 0) from ops.audit_log").fetchone()[0]
    with FakeAntminer(loopback()) as fake:
        inventory = Inventory(miners=[MinerTarget(fake.ip, "asic-0001")])
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        write_modes(db, {"asic-0001": "curtailed"})
        result = apply_plan(database_url, inventory, SETTINGS, execute=True)
        assert (result.applied, result.failed) == (1, 0)
        assert fake.sleeping
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        assert check_commands(database_url) == 0  # observed as commanded: no alert

        write_modes(db, {"asic-0001": "mining"})
        held = apply_plan(database_url, inventory, SETTINGS, execute=True)
        assert (held.decided, held.skipped) == (0, 1) and fake.sleeping  # dwell: changed a moment ago
        age_commands(db, 31)
        woke = apply_plan(database_url, inventory, SETTINGS, execute=True)
        assert woke.applied == 1 and not fake.sleeping
    rows = commands(db)
    assert [r[1:5] for r in rows] == [
        ("sleep", "plan", "execute", "applied"),
        ("wake", "plan", "execute", "skipped"),
        ("wake", "plan", "execute", "applied"),
    ]
    actions = [
        a
        for (a,) in db.execute(
            "select action from ops.audit_log where action like 'fleet.%%' and audit_id > %s order by audit_id",
            (first_audit,),
        )
    ]
    assert actions == ["fleet.command.pending", "fleet.command.applied", "fleet.command.skipped",
                       "fleet.command.pending", "fleet.command.applied"]  # fmt: skip


def test_machine_that_reverts_raises_a_state_mismatch_alert(db, database_url, tmp_path):
    with FakeAntminer(loopback()) as fake:
        inventory = Inventory(miners=[MinerTarget(fake.ip, "asic-0001")])
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        write_modes(db, {"asic-0001": "curtailed"})
        assert apply_plan(database_url, inventory, SETTINGS, execute=True).applied == 1
        assert check_commands(database_url) == 0  # no poll since the command yet
        fake.sleeping, fake.conf["bitmain-work-mode"] = False, "0"  # a watchdog restart: back to normal mode
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        assert check_commands(database_url) == 1
    alert = db.execute("select device_id, kind, commanded, observed from ops.fleet_alerts").fetchone()
    assert alert == ("asic-0001", "state_mismatch", "sleeping", "mining")
    assert check_commands(database_url) == 0  # compared once


def test_miner_that_refuses_the_command_is_a_failed_command(db, database_url, tmp_path):
    with FakeAntminer(loopback(), stubborn=True) as fake:
        inventory = Inventory(miners=[MinerTarget(fake.ip, "asic-0001")])
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        write_modes(db, {"asic-0001": "curtailed"})
        result = apply_plan(database_url, inventory, SETTINGS, execute=True)
    assert (result.applied, result.failed) == (0, 1)  # asic-rs reads the config back and sees no change
    assert commands(db)[0][4:] == ("failed", "the miner refused the command")
    assert check_commands(database_url) == 1


def test_unsupported_command_fails_clearly_and_alerts(db, database_url, tmp_path):
    with FakeBitaxe(loopback()) as fake:
        inventory = Inventory(miners=[MinerTarget(fake.ip, "asic-0002")])
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        write_modes(db, {"asic-0002": "curtailed"})
        result = apply_plan(database_url, inventory, SETTINGS, execute=True)
        assert (result.applied, result.failed) == (0, 1)
        power = asyncio.run(command_miner(MinerPool(5), fake.ip, "power_target", 10))
    assert not power.ok and power.result.startswith("unsupported")
    assert commands(db)[0][4:] == ("failed", "unsupported: Bitaxe Stock cannot pause")
    assert check_commands(database_url) == 1
    assert db.execute("select kind from ops.fleet_alerts").fetchone() == ("command_failed",)


def test_power_cap_breach_curtails_at_once_despite_plan_and_dwell(db, database_url, tmp_path):
    with FakeAntminer(loopback(), power_w=3500) as a1, FakeAntminer(loopback(), power_w=3400) as a2:
        inventory = Inventory(miners=[MinerTarget(a1.ip, "asic-0001"), MinerTarget(a2.ip, "asic-0002")])
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        write_modes(db, {"asic-0001": "mining", "asic-0002": "mining"})
        assert apply_plan(database_url, inventory, SETTINGS, execute=True).decided == 0  # as planned
        capped = tmp_path / "facilities_capped.csv"
        capped.write_text(
            "facility_id,name,market,price_node,timezone,power_cap_kw,pue\n"
            "fac-tx1,Abilene One,ERCOT,HB_WEST,America/Chicago,3,1.12\n"
        )
        ingest_file(
            db, "facilities", capped
        )  # the utility lowers the cap to 3 kW: 7.7 kW drawn, each miner 3.9 kW
        result = apply_plan(
            database_url, inventory, SETTINGS.model_copy(update={"max_changes": 0}), execute=True
        )
        assert [(c["action"], c["rule"]) for c in result.commands] == [("sleep", "curtail_power_cap")] * 2
        assert a1.sleeping and a2.sleeping


def test_machine_woken_since_the_last_poll_counts_at_once_for_a_price_spike(db, database_url, tmp_path):
    with FakeAntminer(loopback(), sleeping=True, power_w=3500) as fake:
        inventory = Inventory(miners=[MinerTarget(fake.ip, "asic-0001")])
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        write_modes(db, {"asic-0001": "mining"})
        assert apply_plan(database_url, inventory, SETTINGS, execute=True).applied == 1
        assert not fake.sleeping  # woken; the last poll still says sleeping
        load_price_spike(db, tmp_path)
        result = apply_plan(database_url, inventory, SETTINGS, execute=True)  # no poll in between
        assert [(c["action"], c["rule"]) for c in result.commands] == [("sleep", "curtail_price_spike")]
        assert fake.sleeping


def test_gpu_drain_goes_through_the_hook(db, database_url, tmp_path):
    log = tmp_path / "hook.log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$@" >> {log}\necho "done $1"\n')
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    status = tmp_path / "live" / "fleet_status" / "gpus.jsonl"
    status.parent.mkdir(parents=True)
    import json
    import time

    status.write_text(
        "".join(
            json.dumps(
                {"device_id": d, "ts": time.time(), "source": "gpu", "state": "serving", "power_w": 650.0}
            )
            + "\n"
            for d in ("gpun-001-gpu0", "gpun-001-gpu1")
        )
    )
    ingest_file(db, "fleet-status", status)
    write_modes(db, {"gpun-001-gpu0": "curtailed", "gpun-001-gpu1": "inference"})
    settings = SETTINGS.model_copy(update={"gpu_idle_cap_w": 120})
    result = apply_plan(database_url, Inventory(), settings, execute=True, gpu_adapter=HookAdapter(str(hook)))
    assert (result.applied, result.failed) == (1, 0)
    assert log.read_text().splitlines() == ["drain gpun-001-gpu0", "power_cap gpun-001-gpu0 120"]
    assert commands(db)[0][1:5] == ("drain", "plan", "execute", "applied")


def _poll_file(folder, rows: list[dict]):
    """A fleet-status poll file as the miner poller writes it."""
    import json
    import time

    status = folder / "live" / "fleet_status" / f"miners_{time.time_ns()}.jsonl"
    status.parent.mkdir(parents=True, exist_ok=True)
    status.write_text("".join(json.dumps({"ts": time.time(), "source": "miner", **r}) + "\n" for r in rows))
    return status


def _cap_facility(conn, folder, cap_kw: float) -> None:
    capped = folder / f"facilities_{cap_kw:g}.csv"
    capped.write_text(
        "facility_id,name,market,price_node,timezone,power_cap_kw,pue\n"
        f"fac-tx1,Abilene One,ERCOT,HB_WEST,America/Chicago,{cap_kw:g},1.12\n"
    )
    ingest_file(conn, "facilities", capped)


def test_cap_breach_lowers_the_power_target_where_the_firmware_has_one(db, database_url, tmp_path):
    full = ["pause", "resume", "power_target"]
    ingest_file(db, "fleet-status", _poll_file(tmp_path, [
        {"device_id": "asic-0001", "state": "mining", "power_w": 3500.0, "controls": full},
        {"device_id": "asic-0002", "state": "mining", "power_w": 3400.0, "controls": ["pause", "resume"]},
    ]))  # fmt: skip
    write_modes(db, {"asic-0001": "mining", "asic-0002": "mining"})
    _cap_facility(db, tmp_path, 7.2)  # 6.9 kW x PUE 1.12 = 7.73 kW drawn: 0.53 kW over
    result = apply_plan(database_url, Inventory(), SETTINGS)
    # 0.53 / 1.12 = 0.47 kW off asic-0001's 3.5 kW (its floor is 70 %): no miner sleeps
    assert [(c["device_id"], c["action"], c["rule"], c["target_w"]) for c in result.commands] == [
        ("asic-0001", "power_target", "curtail_power_cap", 3029)
    ]
    assert db.execute("select target from ops.fleet_commands").fetchall() == [({"watts": 3029},)]
    # with power targets switched off (100 %), the same breach sleeps a miner instead
    no_trim = SETTINGS.model_copy(update={"min_power_target_pct": 100})
    assert [c["action"] for c in apply_plan(database_url, Inventory(), no_trim).commands] == ["sleep"]


def test_power_target_is_sent_checked_against_the_next_poll_and_restored(db, database_url, tmp_path):
    with FakeProto(loopback(), power_w=3500) as rig, FakeAntminer(loopback(), power_w=3400) as antminer:
        inventory = Inventory(
            miners=[MinerTarget(rig.ip, "asic-0001"), MinerTarget(antminer.ip, "asic-0002")]
        )
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        controls = "select device_id, controls from staging.stg_fleet__status order by 1"
        assert db.execute(controls).fetchall() == [
            ("asic-0001", ["pause", "resume", "power_target"]),  # what asic-rs says each firmware offers
            ("asic-0002", ["pause", "resume"]),
        ]
        write_modes(db, {"asic-0001": "mining", "asic-0002": "mining"})
        _cap_facility(db, tmp_path, 7.2)
        result = apply_plan(database_url, inventory, SETTINGS, execute=True)
        assert [(c["device_id"], c["action"], c["target_w"]) for c in result.commands] == [
            ("asic-0001", "power_target", 3029)
        ]
        assert result.applied == 1 and rig.power_target_w == 3029 and not antminer.sleeping
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        last = """select power_kw, power_target_kw from staging.stg_fleet__status
                  where device_id = 'asic-0001' order by polled_at desc limit 1"""
        assert db.execute(last).fetchone() == pytest.approx((3.029, 3.029), abs=1e-3)
        assert check_commands(database_url) == 0  # draws no more than its target
        # the utility lifts the cap: the rig gets its nominal 3.5 kW back, once the dwell has passed
        _cap_facility(db, tmp_path, 20)
        assert apply_plan(database_url, inventory, SETTINGS, execute=True).decided == 0
        age_commands(db, 60)
        result = apply_plan(database_url, inventory, SETTINGS, execute=True)
        assert [(c["device_id"], c["action"], c["rule"], c["target_w"]) for c in result.commands] == [
            ("asic-0001", "power_target", "plan", 3500)
        ]
        assert rig.power_target_w == 3500
        # someone resets the rig to a higher target by hand: the next poll shows it over what we set
        rig.power_target_w = 3900
        rig.power_w = 3900
        poll_fleet(database_url, inventory, SETTINGS, tmp_path)
        assert check_commands(database_url) == 1
    alert = db.execute("select device_id, kind, commanded, observed from ops.fleet_alerts").fetchone()
    assert alert == ("asic-0001", "state_mismatch", "at most 3500 W", "3900 W")
