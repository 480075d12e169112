"""The power-target path end to end: our command and poll code, the real asic-rs Proto backend,
and a fake Proto rig (the MDK REST API on port 80) that applies the target it is sent."""

from __future__ import annotations

import asyncio

import pytest

from ingestion.live.devices import command_miner
from ingestion.live.inventory import InventoryError, MinerTarget, load_inventory
from ingestion.live.miners import MinerPool, read_miner
from tests.fleet.conftest import loopback
from tests.fleet.fakes import FakeProto


@pytest.fixture()
def rig():
    with FakeProto(loopback(), power_w=3300.0) as fake:
        yield fake


def _read(fake: FakeProto):
    return asyncio.run(read_miner(MinerPool(5), MinerTarget(fake.ip, "asic-0001")))


def test_proto_rig_is_identified_and_read(rig):
    reading = _read(rig)
    assert (reading.state, reading.make, reading.model, reading.firmware) == (
        "mining",
        "Proto",
        "Rig",
        "Proto Stock",
    )
    assert reading.power_w == pytest.approx(3300.0)  # no target set: the rig draws what it wants
    assert reading.hashrate_ths == pytest.approx(135.47567610136747 * 3300.0 / FakeProto.FIXTURE_POWER_W)
    assert reading.pool == "stratum+tcp://pool-a.example.com:3333"
    assert reading.fans_rpm == pytest.approx([4346, 4691, 4658, 4443])


def test_power_target_is_set_on_the_rig_and_the_next_poll_reads_it(rig):
    outcome = asyncio.run(command_miner(MinerPool(5), rig.ip, "power_target", 2500))
    assert outcome.ok, outcome.result
    assert rig.power_target_w == 2500
    assert "web PUT /api/v1/mining/target" in rig.requests

    reading = _read(rig)
    assert reading.state == "mining"
    assert reading.power_w is not None and reading.power_w <= 2500


def test_power_target_is_sent_in_whole_watts(rig):
    outcome = asyncio.run(command_miner(MinerPool(5), rig.ip, "power_target", 2749.6))
    assert outcome.ok, outcome.result
    assert rig.power_target_w == 2750


def test_power_target_out_of_the_rig_range_is_a_failed_outcome(rig):
    outcome = asyncio.run(command_miner(MinerPool(5), rig.ip, "power_target", 1500))
    assert not outcome.ok
    assert "422" in outcome.result and "OUT_OF_RANGE" in outcome.result
    assert rig.power_target_w is None


def test_sleep_and_wake_through_pause_and_resume(rig):
    pool = MinerPool(5)
    assert asyncio.run(command_miner(pool, rig.ip, "sleep")).ok
    assert rig.sleeping and "web POST /api/v1/mining/stop" in rig.requests
    asleep = _read(rig)
    assert asleep.state == "sleeping"
    assert asleep.power_w == pytest.approx(0.0) and asleep.hashrate_ths == 0

    assert asyncio.run(command_miner(pool, rig.ip, "wake")).ok
    assert not rig.sleeping and "web POST /api/v1/mining/start" in rig.requests
    awake = _read(rig)
    assert awake.state == "mining" and awake.power_w == pytest.approx(3300.0)


def test_target_survives_sleep_and_caps_the_draw_on_wake(rig):
    pool = MinerPool(5)
    assert asyncio.run(command_miner(pool, rig.ip, "power_target", 2200)).ok
    assert asyncio.run(command_miner(pool, rig.ip, "sleep")).ok
    assert asyncio.run(command_miner(pool, rig.ip, "wake")).ok
    reading = _read(rig)
    assert (reading.state, reading.power_w) == ("mining", pytest.approx(2200.0))


def test_rig_with_a_password_refuses_the_default_login():
    with FakeProto(loopback(), password="operator-set") as fake:
        outcome = asyncio.run(command_miner(MinerPool(5), fake.ip, "power_target", 2500))
    assert not outcome.ok
    assert "Login failed with status 401" in outcome.result
    assert fake.power_target_w is None


def test_inventory_login_reaches_a_rig_whose_password_was_changed(tmp_path, monkeypatch):
    inventory_file = tmp_path / "inventory.toml"
    with FakeProto(loopback(), password="operator-set") as fake:
        inventory_file.write_text(
            f'[[miners]]\ndevice_id = "asic-0001"\naddress = "{fake.ip}"\n\n'
            '[[miner_logins]]\nfirmware = "Proto Stock"\npassword_env = "HCP_TEST_PROTO_PASSWORD"\n'
        )
        with pytest.raises(InventoryError, match=r"miner_logins\[0\].*HCP_TEST_PROTO_PASSWORD is not set"):
            load_inventory(inventory_file)  # the password is never in the file, and must be given
        monkeypatch.setenv("HCP_TEST_PROTO_PASSWORD", "operator-set")
        inventory = load_inventory(inventory_file)
        pool = MinerPool(5, inventory.logins)
        outcome = asyncio.run(command_miner(pool, fake.ip, "power_target", 2500))
        assert outcome.ok, outcome.result
        reading = asyncio.run(read_miner(pool, inventory.miners[0]))
    assert fake.power_target_w == 2500 and reading.state == "mining"
    assert "operator-set" not in repr(inventory)  # a logged inventory does not print the password


def test_inventory_login_for_an_unknown_firmware_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HCP_TEST_PROTO_PASSWORD", "x")
    path = tmp_path / "inventory.toml"
    path.write_text('[[miner_logins]]\nfirmware = "Proto"\npassword_env = "HCP_TEST_PROTO_PASSWORD"\n')
    with pytest.raises(InventoryError, match=r"inventory.toml: miner_logins\[0\].firmware: 'Proto'"):
        load_inventory(path)
