"""Live fleet poll files, written by the pollers in ``ingestion.live`` and loaded like any landing file.

- ``miner-poll``: one JSON object per reachable miner per poll (what asic-rs read), into
  ``raw.device_telemetry``; the poller's own quarantine rules are applied here;
- ``fleet-status``: one JSON object per polled machine (miners and GPU nodes, reachable or not),
  into ``raw.fleet_status``: state, fans, errors, pool, the controls the firmware offers and its
  power target; an unreachable machine is a row here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ingestion.formats.base import Parsed
from ingestion.formats.jsonlines import RecordError, _read

TELEMETRY = ["device_id", "ts", "power_kw", "hashrate_ths", "gpu_util_pct", "temperature_c"]
STATUS = ["device_id", "ts", "source", "address", "state", "power_kw", "fans_rpm", "errors", "pool", "detail",
          "controls", "power_target_kw"]  # fmt: skip
STATES = {"mining", "sleeping", "serving", "idle", "unreachable", "error"}


def read_miner_poll(path: str | Path) -> Parsed:
    """Telemetry rows of a miner poll. A record is quarantined when it has no device id or poll
    time, when a mining miner reports no hashrate, or when a value is not a number."""
    parsed = _read(path, _poll_row, TELEMETRY)
    parsed.frame["ts"] = pd.to_datetime(parsed.frame["ts"], unit="s", utc=True)
    return parsed


def _poll_row(obj: dict) -> dict:
    device_id = obj.get("device_id")
    if not isinstance(device_id, str) or not device_id:
        raise RecordError("device_id", "no device id (not in the inventory and no hostname reported)")
    ts = _number(obj, "ts", required=True)
    state = obj.get("state")
    if state not in ("mining", "sleeping"):
        raise RecordError("state", f"not a reachable miner state: {state!r}")
    hashrate = _number(obj, "hashrate_ths")
    if state == "mining" and math.isnan(hashrate):
        raise RecordError("hashrate_ths", "mining but no hashrate reported")
    power = _number(obj, "power_w")
    return {
        "device_id": device_id,
        "ts": ts,
        "power_kw": power / 1000,
        "hashrate_ths": hashrate,
        "gpu_util_pct": math.nan,
        "temperature_c": _number(obj, "temperature_c"),
    }


def read_fleet_status(path: str | Path) -> Parsed:
    """Status rows, one per machine and poll."""
    parsed = _read(path, _status_row, STATUS)
    parsed.frame["ts"] = pd.to_datetime(parsed.frame["ts"], unit="s", utc=True)
    return parsed


def _status_row(obj: dict) -> dict:
    device_id = obj.get("device_id")
    if not isinstance(device_id, str) or not device_id:
        raise RecordError("device_id", "no device id")
    row = {name: obj.get(name) for name in STATUS}
    row["ts"] = _number(obj, "ts", required=True)
    row["power_kw"] = _number(obj, "power_w") / 1000
    row["power_target_kw"] = _number(obj, "power_target_w") / 1000
    for name in ("fans_rpm", "errors", "controls"):
        value = obj.get(name)
        if value is not None and not isinstance(value, list):
            raise RecordError(name, f"{name} must be a list")
        row[name] = None if value is None else [str(v) for v in value]
    return row


def _number(obj: dict, field: str, required: bool = False) -> float:
    value = obj.get(field)
    if value is None:
        if required:
            raise RecordError(field, "missing")
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(field, f"not a number: {value!r}")
    return float(value)
