"""JSON-lines readers: cgminer-style miner API polls and workload lifecycle events."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

# orjson parses miner polls several times faster than the standard library
from orjson import JSONDecodeError as _DecodeError
from orjson import loads as _loads

from ingestion.errors import IngestError
from ingestion.formats.base import Parsed, rejects_frame
from ingestion.limits import time_window

EVENT_FIELDS = [
    "event_id", "workload_id", "customer_id", "event_type", "event_at",
    "workload_type", "gpu_pool", "gpus_requested", "device_ids",
]  # fmt: skip


class RecordError(ValueError):
    """One record cannot be read; ``field`` names the part of it."""

    def __init__(self, field: str | None, reason: str):
        super().__init__(reason)
        self.field = field


def _objects(path) -> Iterator[tuple[int, str, dict | None, str | None]]:
    """(line, text, object, error) for each non-blank line, read line by line (bounded memory)."""
    with open(path, "rb") as handle:
        offset, blank = 0, True
        for number, data in enumerate(handle, start=1):
            if number == 1 and data.startswith(b"\xef\xbb\xbf"):
                data, offset = data[3:], 3
            try:
                line = data.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise IngestError(
                    path,
                    f"not UTF-8 text (byte {data[err.start]:#04x} at offset {offset + err.start})",
                    line=number,
                ) from None
            offset += len(data)
            if not line.strip():
                continue
            blank = False
            try:
                obj = _loads(line)
            except _DecodeError as err:
                yield number, line, None, f"invalid JSON: {err}"
                continue
            yield number, line, obj, None if isinstance(obj, dict) else "not a JSON object"
    if blank:
        raise IngestError(path, "empty file")


def _read_chunks(
    path, extract: Callable[[dict], dict], columns: list[str], chunk_rows: int
) -> Iterator[Parsed]:
    """Rows of at most ``chunk_rows`` lines at a time; a file with no readable line raises IngestError
    (after its last chunk: only the count and the first reject are kept)."""
    rows, rejects, readable, first_reject = [], [], False, None
    for line, text, obj, error in _objects(path):
        if error:
            rejects.append((line, None, error, text))
            first_reject = first_reject or (line, error)
        else:
            try:
                rows.append({**extract(obj), "_line": line})
                readable = True
            except RecordError as err:
                rejects.append((line, err.field, str(err), text))
                readable = readable or err.field is not None  # a JSON object, not a usable record
        if len(rows) + len(rejects) >= chunk_rows:
            yield Parsed(pd.DataFrame(rows, columns=[*columns, "_line"]), rejects_frame(rejects))
            rows, rejects = [], []
    if not readable and first_reject:
        raise IngestError(path, f"no readable JSON lines ({first_reject[1]})", line=first_reject[0])
    if rows or rejects:
        yield Parsed(pd.DataFrame(rows, columns=[*columns, "_line"]), rejects_frame(rejects))


def _read(path, extract: Callable[[dict], dict], columns: list[str]) -> Parsed:
    chunks = list(_read_chunks(path, extract, columns, chunk_rows=1 << 62))
    return chunks[0] if chunks else Parsed(pd.DataFrame(columns=[*columns, "_line"]))


def read_events(path: str | Path) -> Parsed:
    """Workload events; ``device_ids`` stays a list (or None)."""
    return _read(path, _event, EVENT_FIELDS)


def _event(obj: dict) -> dict:
    ids = obj.get("device_ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise RecordError("device_ids", "device_ids must be a list of strings")
    row = {name: obj.get(name) for name in EVENT_FIELDS}
    row["device_ids"] = ids
    return row


MINER_COLUMNS = ["device_id", "ts", "power_kw", "hashrate_ths", "gpu_util_pct", "temperature_c"]


def read_miner(path: str | Path) -> Parsed:
    """Telemetry rows from cgminer ``summary`` + ``stats`` replies, one JSON object per poll."""
    parsed = _read(path, _miner_reader(), MINER_COLUMNS)
    parsed.frame["ts"] = pd.to_datetime(parsed.frame["ts"], unit="s", utc=True)
    return parsed


def iter_miner(path: str | Path, chunk_rows: int) -> Iterator[Parsed]:
    """:func:`read_miner` in chunks of at most ``chunk_rows`` lines: a file of any size in bounded memory."""
    for parsed in _read_chunks(path, _miner_reader(), MINER_COLUMNS, chunk_rows):
        parsed.frame["ts"] = pd.to_datetime(parsed.frame["ts"], unit="s", utc=True)
        yield parsed


def _miner_reader() -> Callable[[dict], dict]:
    """:func:`_miner_row` with the accepted time window read once per file, not once per row (the
    settings lookup cost more than the JSON parse)."""
    window = time_window()
    return lambda obj: _miner_row(obj, window)


def _miner_row(obj: dict, window: tuple[float, float]) -> dict:
    try:
        summary = obj["summary"]["SUMMARY"][0]
        when = obj["summary"]["STATUS"][0]["When"]
    except (KeyError, IndexError, TypeError):
        raise RecordError("summary", "no summary.SUMMARY[0] / summary.STATUS[0].When") from None
    stats = _stats(obj)
    if "MHS 5s" in summary:
        hashrate = _number(summary["MHS 5s"], "MHS 5s") / 1e6
    elif "GHS 5s" in summary:
        hashrate = _number(summary["GHS 5s"], "GHS 5s") / 1e3
    else:
        hashrate = math.nan
    if "Power" in summary:
        power = _number(summary["Power"], "Power") / 1000
    elif "chain_power" in stats:
        power = _number(stats["chain_power"], "chain_power") / 1000
    else:
        power = math.nan
    temps = [t for k, v in stats.items() if k[:4] in _TEMP and (t := _max_number(v)) is not None]
    return {
        "device_id": obj.get("device_id"),
        "ts": _timestamp(_number(when, "When"), "When", window),
        "power_kw": power,
        "hashrate_ths": hashrate,
        "gpu_util_pct": math.nan,
        "temperature_c": max(temps) if temps else math.nan,
    }


_TEMP = {"temp", "Temp", "TEMP"}


def _timestamp(seconds: float, field: str, window: tuple[float, float]) -> float:
    """Unix seconds inside the sane window (ingestion.limits.time_window), else the row is quarantined;
    this also keeps values like 1e20 from overflowing the datetime conversion."""
    earliest, latest = window
    if not earliest <= seconds <= latest:
        raise RecordError(field, f"{field} {seconds:g} is outside the accepted time window")
    return seconds


def _stats(obj: dict) -> dict:
    """``STATS[1]``: cgminer puts its own version block at index 0 and the device block at 1."""
    try:
        blocks = obj["stats"]["STATS"]
    except (KeyError, TypeError):
        return {}
    return blocks[1] if len(blocks) > 1 and isinstance(blocks[1], dict) else {}


def _number(value, field: str) -> float:
    """A number, also from strings like ``"3250 W"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = re.search(r"-?\d+(?:\.\d+)?", str(value))
    if not match:
        raise RecordError(field, f"not a number: {value!r}")
    return float(match.group())


def _max_number(value) -> float | None:
    """The highest number in a value: cgminer gives chip temperatures as ``"62-66-65"`` strings too."""
    if type(value) in (int, float):
        return float(value)
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", str(value))]
    return max(numbers) if numbers else None
