"""The kinds of landing file, and routing a file to its kind by folder layout or header."""

from __future__ import annotations

import json
from pathlib import Path

from ingestion.errors import IngestError
from ingestion.formats.base import first_line, header_key

KINDS: dict[str, str] = {
    "ercot-rt": "ERCOT real-time 15-minute settlement point prices (NP6-905-CD)",
    "ercot-dam": "ERCOT day-ahead hourly settlement point prices (NP4-190-CD)",
    "pjm-lmp": "PJM Data Miner 2 LMP export (rt_hrl_lmps, da_hrl_lmps, rt_fivemin_hrl_lmps)",
    "caiso-lmp": "CAISO OASIS LMP CSV (PRC_INTVL_LMP, PRC_LMP)",
    "prices": "normalized energy prices CSV",
    "bitcoin": "Bitcoin daily/hourly economics: price, difficulty, subsidy, fees",
    "telemetry": "normalized device telemetry CSV or Parquet",
    "dcgm": "NVIDIA DCGM exporter text exposition",
    "miner": "cgminer API summary + stats polls, JSON lines",
    "miner-poll": "live miner poll (asic-rs readings), JSON lines",
    "fleet-status": "live machine status per poll (reachable, state, fans, errors, pool), JSON lines",
    "site-meter": "facility power at the utility meter, CSV",
    "events": "workload lifecycle events, JSON lines",
    "facilities": "facilities: market, price node, power cap, PUE",
    "devices": "devices: ASICs and GPUs, nameplate, rack position",
    "customers": "customers (PII encrypted on load)",
    "rate-cards": "GPU-hour rate cards",
    "demand-response": "demand-response curtailment events",
}

# Kind -> raw table it loads into.
TABLE_OF = {
    **dict.fromkeys(["ercot-rt", "ercot-dam", "pjm-lmp", "caiso-lmp", "prices"], "energy_prices"),
    **dict.fromkeys(["telemetry", "dcgm", "miner", "miner-poll"], "device_telemetry"),
    "fleet-status": "fleet_status",
    "bitcoin": "btc_economics",
    "site-meter": "site_meter",
    "events": "workload_events",
    "facilities": "facilities",
    "devices": "devices",
    "customers": "customers",
    "rate-cards": "rate_cards",
    "demand-response": "demand_response_events",
}

# Load order of ``ingest_folder``: reference data first, so telemetry finds its devices.
LOAD_ORDER = [
    "facilities", "devices", "customers", "rate-cards", "demand-response",
    "ercot-rt", "ercot-dam", "pjm-lmp", "caiso-lmp", "prices", "bitcoin",
    "telemetry", "dcgm", "miner", "miner-poll", "fleet-status", "site-meter", "events",
]  # fmt: skip

_FOLDERS = {
    "ercot_rt": "ercot-rt",
    "ercot_dam": "ercot-dam",
    "pjm": "pjm-lmp",
    "caiso": "caiso-lmp",
    "bitcoin": "bitcoin",
    "miner": "miner",
    "dcgm": "dcgm",
    "site_meter": "site-meter",
    "workloads": "events",
    "miner_poll": "miner-poll",
    "fleet_status": "fleet-status",
}
_REFERENCE = {
    "facilities": "facilities",
    "devices": "devices",
    "customers": "customers",
    "rate_cards": "rate-cards",
    "demand_response": "demand-response",
}
# Header columns (normalized) that identify a CSV kind when the path does not.
_SIGNATURES = [
    ({"deliveryinterval", "settlementpointprice"}, "ercot-rt"),
    ({"hourending", "settlementpointprice"}, "ercot-dam"),
    ({"datetimebeginningutc", "pnodename"}, "pjm-lmp"),
    ({"intervalstarttimegmt", "lmptype"}, "caiso-lmp"),
    ({"market", "nodename", "pricekind", "intervalstartutc"}, "prices"),
    ({"btcpriceusd", "difficulty"}, "bitcoin"),
    ({"deviceid", "ts", "powerkw"}, "telemetry"),
    ({"facilityid", "ts", "powerkw"}, "site-meter"),
    ({"customerid", "email", "taxid"}, "customers"),
    ({"ratecardid", "priceusdpergpuhour"}, "rate-cards"),
    ({"eventid", "curtailkw"}, "demand-response"),
    ({"deviceid", "facilityid", "kind", "model"}, "devices"),
    ({"facilityid", "pricenode", "pue"}, "facilities"),
]


class NotIngested(IngestError):
    """A landing file that is deliberately not ingested (fault labels, notes)."""


def detect_kind(path: str | Path) -> str:
    """The kind of a landing file: from the contract's folder layout, else from its header."""
    path = Path(path)
    parts = [p.lower() for p in path.parts[:-1]]
    name, suffix = path.stem.lower(), path.suffix.lower()
    if "labels" in parts:
        raise NotIngested(path, "fault labels are ground truth for scoring, not ingested")
    if "reference" in parts:
        for prefix, kind in _REFERENCE.items():
            if name.startswith(prefix):
                return kind
    if suffix == ".prom":
        return "dcgm"
    for folder in reversed(parts):
        if folder in _FOLDERS:
            return _FOLDERS[folder]
    if suffix == ".parquet":
        return "telemetry"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _kind_of_json(path)
    keys = {header_key(name.strip('"')) for name in first_line(path).split(",")}
    for signature, kind in _SIGNATURES:
        if signature <= keys:
            return kind
    raise IngestError(path, "cannot tell the kind of this file from its folder or header", line=1)


def _kind_of_json(path: Path) -> str:
    try:
        obj = json.loads(first_line(path))
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and "summary" in obj:
        return "miner"
    if isinstance(obj, dict) and "event_type" in obj:
        return "events"
    raise IngestError(path, "cannot tell the kind of this JSON lines file", line=1)
