"""One poll of the whole fleet: miners (asic-rs) and GPU nodes (DCGM), landed and loaded.

Every file goes through :func:`ingestion.loader.ingest_file`, so the poll's rows get the loader's
validation, duplicate skipping, quarantine and load log.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingestion.live import gpus
from ingestion.live.inventory import FleetSettings, Inventory
from ingestion.live.miners import MinerPool, MinerReading, poll_miners
from ingestion.live.miners import write_landing as write_miner_landing
from ingestion.loader import LoadResult, ingest_file


@dataclass
class PollResult:
    """What one poll read and loaded."""

    started_at: datetime
    seconds: float
    miners: int
    miners_reachable: int
    gpu_nodes: int
    gpu_nodes_reachable: int
    poll_seconds: float
    loads: list[LoadResult] = field(default_factory=list)
    readings: list[MinerReading] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "started_at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "poll_seconds": round(self.poll_seconds, 3),
            "miners": self.miners,
            "miners_reachable": self.miners_reachable,
            "miners_per_second": round(self.miners / self.poll_seconds, 1) if self.poll_seconds else None,
            "gpu_nodes": self.gpu_nodes,
            "gpu_nodes_reachable": self.gpu_nodes_reachable,
            "loads": [load.to_dict() for load in self.loads],
        }


def poll_fleet(
    url: str,
    inventory: Inventory,
    settings: FleetSettings,
    landing: str | Path,
    pool: MinerPool | None = None,
) -> PollResult:
    """Poll every machine of ``inventory`` once and load what was read."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    folder = Path(landing) / "live"
    pool = pool or MinerPool(settings.timeout_s, inventory.logins)
    readings = asyncio.run(poll_miners(inventory.miners, pool, settings.concurrency))
    scrapes = gpus.scrape_all(inventory.gpu_nodes, settings.timeout_s, settings.concurrency)
    poll_seconds = time.perf_counter() - started
    loads = []
    poll_file, status_file = write_miner_landing(readings, folder, stamp)
    dcgm_file, gpu_status = gpus.write_landing(scrapes, folder, stamp)
    if gpu_status:
        with status_file.open("a") as handle:
            handle.writelines(json.dumps(record) + "\n" for record in gpu_status)
    if any(r.state in ("mining", "sleeping") for r in readings):
        loads.append(ingest_file(url, "miner-poll", poll_file))
    if dcgm_file is not None:
        loads.append(ingest_file(url, "dcgm", dcgm_file))
    if status_file.stat().st_size:
        loads.append(ingest_file(url, "fleet-status", status_file))
    return PollResult(
        started_at=now,
        seconds=time.perf_counter() - started,
        miners=len(readings),
        miners_reachable=sum(r.state in ("mining", "sleeping") for r in readings),
        gpu_nodes=len(scrapes),
        gpu_nodes_reachable=sum(s.text is not None for s in scrapes),
        poll_seconds=poll_seconds,
        loads=loads,
        readings=readings,
    )
