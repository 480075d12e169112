"""Polling through the real asic-rs backends against fake miners that speak the miners' APIs,
and scraping fake DCGM exporters; rows land through the loader."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from ingestion.live.fleet import poll_fleet
from ingestion.live.inventory import (
    FleetSettings,
    GpuNode,
    Inventory,
    InventoryError,
    MinerTarget,
    expand_range,
)
from ingestion.live.miners import MinerPool, poll_miners
from ingestion.loader import ingest_file
from tests.fleet.conftest import loopback
from tests.fleet.fakes import FakeAntminer, FakeBitaxe, FakeExporter


def test_antminer_over_rpc_and_digest_web_api_is_read():
    with FakeAntminer(loopback(), power_w=3250) as fake:
        [reading] = asyncio.run(poll_miners([MinerTarget(fake.ip, "asic-0001")], MinerPool(5)))
    assert reading.state == "mining"
    assert reading.hashrate_ths == pytest.approx(572.84556)  # GHS 5s of the captured S23 stats
    assert reading.power_w == 3250
    assert reading.temperature_c == pytest.approx(48.0)
    assert reading.pool == "stratum+tcp://stratum.pool.io:3333"
    assert (reading.make, reading.firmware) == ("Antminer", "AntMiner Stock")
    assert "rpc stats" in fake.requests and "web GET /cgi-bin/get_miner_conf.cgi" in fake.requests


def test_sleeping_antminer_reads_as_sleeping():
    with FakeAntminer(loopback(), sleeping=True) as fake:
        [reading] = asyncio.run(poll_miners([MinerTarget(fake.ip, "asic-0001")], MinerPool(5)))
    assert reading.state == "sleeping"
    assert reading.hashrate_ths == 0


def test_bitaxe_over_axeos_rest_api_is_read():
    with FakeBitaxe(loopback()) as fake:
        [reading] = asyncio.run(poll_miners([MinerTarget(fake.ip, "asic-0002")], MinerPool(5)))
    assert (reading.state, reading.make, reading.model) == ("mining", "Bitaxe", "Gamma")
    assert reading.hashrate_ths == pytest.approx(1.0722407227)
    assert reading.power_w == pytest.approx(18.7522583)
    assert reading.fans_rpm == [pytest.approx(3915)]


def test_unreachable_miner_is_a_status_not_an_exception():
    address = loopback()  # nothing listens there
    [reading] = asyncio.run(poll_miners([MinerTarget(address, "asic-0009")], MinerPool(3)))
    assert reading.state == "unreachable"
    assert reading.status_record()["device_id"] == "asic-0009"


class _Gauge:
    """Counts how many fake miners are being talked to at once."""

    def __init__(self):
        self.busy: dict[str, int] = {}
        self.peak = 0
        self.lock = threading.Lock()

    def wrap(self, fake: FakeAntminer) -> None:
        reply = fake.rpc_reply

        def slow(command: str):
            with self.lock:
                self.busy[fake.ip] = self.busy.get(fake.ip, 0) + 1
                self.peak = max(self.peak, sum(1 for n in self.busy.values() if n))
            time.sleep(0.15)
            with self.lock:
                self.busy[fake.ip] -= 1
            return reply(command)

        fake.rpc_reply = slow


@pytest.mark.parametrize("bound", [2, 6])
def test_concurrency_is_bounded(bound):
    fakes = [FakeAntminer(loopback()) for _ in range(6)]
    gauge = _Gauge()
    for fake in fakes:
        gauge.wrap(fake)
        fake.start()
    try:
        readings = asyncio.run(
            poll_miners([MinerTarget(f.ip, f"m{i}") for i, f in enumerate(fakes)], MinerPool(10), bound)
        )
    finally:
        for fake in fakes:
            fake.stop()
    assert all(r.state == "mining" for r in readings)
    assert gauge.peak <= bound
    if bound == 6:
        assert gauge.peak > 2  # the gauge does see parallel polls when they are allowed


def test_poll_lands_through_the_loader(fleet_db, database_url, tmp_path):
    with (
        FakeAntminer(loopback(), power_w=3300) as antminer,
        FakeBitaxe(loopback()) as bitaxe,
        FakeExporter("gpun-001") as exporter,
    ):
        inventory = Inventory(
            miners=[
                MinerTarget(antminer.ip, "asic-0001"),
                MinerTarget(bitaxe.ip, "asic-0002"),
                MinerTarget(loopback(), "asic-0003"),
            ],
            gpu_nodes=[GpuNode("gpun-001", exporter.url), GpuNode("gpun-002", "http://127.0.0.1:9/metrics")],
        )
        result = poll_fleet(database_url, inventory, FleetSettings(timeout_s=5), tmp_path)
    assert (result.miners, result.miners_reachable, result.gpu_nodes_reachable) == (3, 2, 1)
    rows = fleet_db.execute(
        "select device_id, hashrate_ths, power_kw, gpu_util_pct from raw.device_telemetry order by device_id"
    ).fetchall()
    by_id = {r[0]: r[1:] for r in rows}
    assert by_id["asic-0001"][0] == pytest.approx(572.8456, rel=1e-5)
    assert by_id["asic-0001"][1] == pytest.approx(3.3)
    assert by_id["asic-0002"][1] == pytest.approx(0.0187522583, rel=1e-5)
    assert by_id["gpun-001-gpu0"][1:] == (pytest.approx(0.612528, rel=1e-5), 87)
    status = dict(fleet_db.execute("select device_id, state from raw.fleet_status").fetchall())
    assert status == {
        "asic-0001": "mining", "asic-0002": "mining", "asic-0003": "unreachable",
        "gpun-001-gpu0": "serving", "gpun-001-gpu1": "idle", "gpun-002": "unreachable",
    }  # fmt: skip
    kinds = [load.kind for load in result.loads]
    assert kinds == ["miner-poll", "dcgm", "fleet-status"]
    assert all(
        load.rows_in == load.loaded + load.quarantined + load.duplicates_skipped for load in result.loads
    )


def test_poll_quarantine_rules(fleet_db, tmp_path):
    path = tmp_path / "live" / "miner_poll" / "bad.jsonl"
    path.parent.mkdir(parents=True)
    now = time.time()
    records = [
        {"device_id": "asic-0001", "ts": now, "state": "mining", "hashrate_ths": 200.0, "power_w": 3400},
        {"device_id": "asic-0002", "ts": now, "state": "mining", "hashrate_ths": None, "power_w": 3400},
        {"device_id": None, "ts": now, "state": "mining", "hashrate_ths": 100.0},
        {"device_id": "Antminer", "ts": now, "state": "mining", "hashrate_ths": 100.0},
        {"device_id": "asic-0001", "ts": "noon", "state": "sleeping"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "not json\n")
    result = ingest_file(fleet_db, "miner-poll", path)
    assert (result.rows_in, result.loaded, result.quarantined) == (6, 1, 5)
    reasons = dict(
        fleet_db.execute(
            "select line_no, coalesce(field, '-') || ': ' || reason from raw.quarantine"
        ).fetchall()
    )
    assert reasons[2] == "hashrate_ths: mining but no hashrate reported"
    assert reasons[3].startswith("device_id: no device id")
    assert reasons[4] == "device_id: unknown device_id (not in raw.devices)"
    assert reasons[5].startswith("ts: not a number")
    assert "invalid JSON" in reasons[6]


def test_inventory_ranges_and_errors(tmp_path):
    assert expand_range("10.0.1.1-3") == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]
    assert expand_range("10.0.2.0/30") == ["10.0.2.1", "10.0.2.2"]
    with pytest.raises(InventoryError, match="bad octet '1-300'"):
        expand_range("10.0.1.1-300")
    from ingestion.live.inventory import load_inventory

    path = tmp_path / "fleet.toml"
    path.write_text('[[miners]]\ndevice_id = "a"\naddress = "10.0.0.300"\n')
    with pytest.raises(InventoryError, match=r"fleet.toml: miners\[0\].address: not an IP address"):
        load_inventory(path)
