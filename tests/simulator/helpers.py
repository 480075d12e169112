"""Small readers of the simulator's telemetry files, independent of the ingestion parsers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

_SAMPLE = re.compile(r'^(DCGM_FI_DEV_\w+)\{gpu="(\d+)".*Hostname="([^"]+)".*\} (\S+) (\d+)$')


def miner_rows(path: Path) -> pd.DataFrame:
    """device_id, ts (epoch s), power_w, hashrate_ths, temperature_c per JSON line of a miner file."""
    rows = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        summary = obj["summary"]["SUMMARY"][0]
        stats = obj["stats"]["STATS"][1]
        ths = summary["MHS 5s"] / 1e6 if "MHS 5s" in summary else summary["GHS 5s"] / 1e3
        power = summary["Power"] if "Power" in summary else stats["chain_power"]
        temp = max(v for k, v in stats.items() if k.startswith("temp"))
        rows.append((obj["device_id"], obj["summary"]["STATUS"][0]["When"], power, ths, temp))
    return pd.DataFrame(rows, columns=["device_id", "ts", "power_w", "hashrate_ths", "temperature_c"])


def dcgm_rows(path: Path) -> pd.DataFrame:
    """device_id, ts (epoch s), metric, value per sample line of a DCGM file."""
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, line
        metric, gpu, host, value, ms = m.groups()
        rows.append((f"{host}-gpu{gpu}", int(ms) // 1000, metric, float(value), int(ms)))
    return pd.DataFrame(rows, columns=["device_id", "ts", "metric", "value", "ms"])
