"""One reader per landing format: plain functions from a file path to :class:`Parsed` rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ingestion.formats.base import Parsed
from ingestion.formats.caiso import read_caiso_lmp
from ingestion.formats.dcgm import read_dcgm
from ingestion.formats.ercot import read_ercot_dam, read_ercot_rt
from ingestion.formats.fleet import read_fleet_status, read_miner_poll
from ingestion.formats.jsonlines import iter_miner, read_events, read_miner
from ingestion.formats.pjm import read_pjm_lmp
from ingestion.formats.prices import read_prices
from ingestion.formats.records import (
    read_bitcoin,
    read_customers,
    read_demand_response,
    read_devices,
    read_facilities,
    read_rate_cards,
    read_site_meter,
)
from ingestion.formats.telemetry import iter_telemetry, read_telemetry

READERS: dict[str, Callable[[str | Path], Parsed]] = {
    "ercot-rt": read_ercot_rt,
    "ercot-dam": read_ercot_dam,
    "pjm-lmp": read_pjm_lmp,
    "caiso-lmp": read_caiso_lmp,
    "prices": read_prices,
    "bitcoin": read_bitcoin,
    "telemetry": read_telemetry,
    "dcgm": read_dcgm,
    "miner": read_miner,
    "miner-poll": read_miner_poll,
    "fleet-status": read_fleet_status,
    "site-meter": read_site_meter,
    "events": read_events,
    "facilities": read_facilities,
    "devices": read_devices,
    "customers": read_customers,
    "rate-cards": read_rate_cards,
    "demand-response": read_demand_response,
}

# Readers that stream a file in chunks of at most ``chunk_rows`` rows (bounded memory for any size).
CHUNK_READERS: dict[str, Callable[[str | Path, int], Iterator[Parsed]]] = {
    "telemetry": iter_telemetry,
    "miner": iter_miner,
}


def read_chunks(kind: str, path: str | Path, chunk_rows: int) -> Iterator[Parsed]:
    """The rows of a file in chunks: streamed where the format has a chunk reader, else one chunk."""
    if kind in CHUNK_READERS:
        yield from CHUNK_READERS[kind](path, chunk_rows)
    else:
        yield READERS[kind](path)


__all__ = ["CHUNK_READERS", "READERS", "Parsed", "read_chunks"]
