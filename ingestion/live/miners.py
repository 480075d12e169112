"""Polling ASIC miners through asic-rs (``pyasic_rs``): bounded concurrency, per-miner time limit.

A miner that does not answer, or answers with something asic-rs cannot identify, is a status row
(``unreachable`` / ``error``), never an exception. Readings are written as two landing files, a
``miner-poll`` file (telemetry of the reachable miners) and a ``fleet-status`` file (every miner),
and loaded by :func:`ingestion.loader.ingest_file` like any other landing file.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pyasic_rs import MinerFactory
from pyasic_rs.data import HashRateUnit

from ingestion.live.inventory import MinerLogin, MinerTarget


@dataclass
class MinerReading:
    """One miner at one poll. ``state`` is mining, sleeping, unreachable or error."""

    address: str
    device_id: str | None
    ts: float
    state: str
    hashrate_ths: float | None = None
    power_w: float | None = None
    temperature_c: float | None = None
    fans_rpm: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pool: str | None = None
    make: str | None = None
    model: str | None = None
    firmware: str | None = None
    detail: str | None = None
    controls: list[str] = field(default_factory=list)  # pause, resume, power_target (per firmware)
    power_target_w: float | None = None

    def telemetry_record(self) -> dict:
        return {
            k: getattr(self, k)
            for k in ("device_id", "ts", "state", "hashrate_ths", "power_w", "temperature_c")
        }

    def status_record(self) -> dict:
        return {
            "device_id": self.device_id or f"ip-{self.address}",
            "ts": self.ts,
            "source": "miner",
            "address": self.address,
            "state": self.state,
            "power_w": self.power_w,
            "fans_rpm": [round(f) for f in self.fans_rpm],
            "errors": self.errors,
            "pool": self.pool,
            "controls": self.controls,
            "power_target_w": self.power_target_w,
            "detail": self.detail
            or " ".join(
                x for x in (self.make, self.model, f"({self.firmware})" if self.firmware else None) if x
            ),
        }


class MinerPool:
    """Miner handles by address, identified once and reused across polls and commands."""

    def __init__(self, timeout_s: float = 10.0, logins: Iterable[MinerLogin] = ()):
        self.timeout_s = timeout_s
        self._factory = MinerFactory()
        for login in logins:  # firmwares whose default password was changed
            self._factory = self._factory.with_firmware_discovery_auth(
                login.firmware, login.username, login.password
            )
        self._miners: dict[str, object] = {}

    async def get(self, address: str):
        """The asic-rs miner at ``address``, or None when nothing identifiable answers."""
        if address not in self._miners:
            miner = await asyncio.wait_for(self._factory.get_miner(address), self.timeout_s)
            if miner is None:
                return None
            self._miners[address] = miner
        return self._miners[address]

    def forget(self, address: str) -> None:
        """Drop a handle (the machine may have been replaced or reflashed)."""
        self._miners.pop(address, None)


async def read_miner(pool: MinerPool, target: MinerTarget) -> MinerReading:
    """One miner's reading; every failure becomes a status."""
    ts = time.time()
    try:
        miner = await pool.get(target.address)
    except (TimeoutError, OSError, RuntimeError, ValueError) as err:
        return MinerReading(target.address, target.device_id, ts, "unreachable", detail=_why(err))
    if miner is None:
        return MinerReading(target.address, target.device_id, ts, "unreachable", detail="no miner identified")
    try:
        data = await asyncio.wait_for(miner.get_data(), pool.timeout_s)
    except (TimeoutError, OSError, RuntimeError, ValueError) as err:
        pool.forget(target.address)
        return MinerReading(target.address, target.device_id, ts, "unreachable", detail=_why(err))
    reading = from_data(target, data, ts)
    reading.controls = controls(miner)
    return reading


# asic-rs capability flags -> the controls the fleet controller uses
CONTROLS = {
    "pause": "supports_pause",
    "resume": "supports_resume",
    "power_target": "supports_set_power_limit",
}


def controls(miner) -> list[str]:
    """What the miner's firmware lets the controller do, as asic-rs reports it."""
    return [name for name, flag in CONTROLS.items() if getattr(miner, flag, False)]


def from_data(target: MinerTarget, data, ts: float) -> MinerReading:
    """A reading from asic-rs ``MinerData``."""
    hashrate = (
        float(data.hashrate.into_unit(HashRateUnit.TeraHash).value) if data.hashrate is not None else None
    )
    temps = [
        t for b in data.hashboards for t in (b.board_temperature, b.outlet_chip_temperature) if t is not None
    ]
    if data.average_temperature is not None:
        temps.append(data.average_temperature)
    pools = [p for group in data.pools for p in group.pools]
    active = next((p for p in pools if p.active), pools[0] if pools else None)
    info = data.device_info
    return MinerReading(
        address=target.address,
        device_id=target.device_id or data.hostname,
        ts=ts,  # our clock at the start of the read: miners report whole seconds, if at all
        state="mining" if data.is_mining else "sleeping",
        hashrate_ths=_finite(hashrate),
        power_w=_finite(data.wattage),
        temperature_c=max(temps) if temps else None,
        fans_rpm=[f.rpm for f in data.fans if f.rpm is not None],
        errors=[m.message for m in data.messages],
        pool=str(active.url) if active is not None and active.url is not None else None,
        make=info.make,
        model=info.model,
        firmware=info.firmware,
        power_target_w=_power_target_w(data.tuning_target),
    )


def _power_target_w(target) -> float | None:
    """The power target a miner reports (W); None when it tunes to something else (hashrate, a
    preset) or reports nothing."""
    if target is None or getattr(target, "variant", None) != "power":
        return None
    return _finite(target.watts)


def _finite(value) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _why(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


async def poll_miners(
    targets: Iterable[MinerTarget], pool: MinerPool, concurrency: int = 32
) -> list[MinerReading]:
    """Read every target, at most ``concurrency`` at once."""
    gate = asyncio.Semaphore(concurrency)

    async def one(target: MinerTarget) -> MinerReading:
        async with gate:
            return await read_miner(pool, target)

    return list(await asyncio.gather(*(one(t) for t in targets)))


def write_landing(readings: list[MinerReading], folder: Path, stamp: str) -> tuple[Path, Path]:
    """``(miner-poll file, fleet-status file)`` under ``folder`` (``<landing>/live``)."""
    poll = folder / "miner_poll" / f"miners_{stamp}.jsonl"
    status = folder / "fleet_status" / f"miners_{stamp}.jsonl"
    for path in (poll, status):
        path.parent.mkdir(parents=True, exist_ok=True)
    reachable = [r for r in readings if r.state in ("mining", "sleeping")]
    poll.write_text("".join(json.dumps(r.telemetry_record()) + "\n" for r in reachable))
    status.write_text("".join(json.dumps(r.status_record()) + "\n" for r in readings))
    return poll, status


def reading_dicts(readings: list[MinerReading]) -> list[dict]:
    return [asdict(r) for r in readings]
