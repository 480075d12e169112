"""Daily telemetry files: cgminer-style miner JSON lines and DCGM exporter text.

Lines are built from %-templates over whole columns (no json.dumps per row): the default fleet
writes about two million readings and this keeps it to a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingestion.simulator.clock import Clock
from ingestion.simulator.fleet import Fleet
from ingestion.simulator.spec import ASIC_MODELS, GPU_MODELS
from ingestion.simulator.telemetry import Readings

# Trimmed to the fields a monitoring poll reads (the full replies carry dozens more).
_ANTMINER = (
    '{"device_id":"%s","summary":{"STATUS":[{"STATUS":"S","When":%d,"Code":11,"Msg":"Summary",'
    '"Description":"cgminer 4.11.1"}],"SUMMARY":[{"Elapsed":%d,"GHS 5s":%.2f,"GHS av":%.2f,'
    '"Accepted":%d,"Rejected":%d,"Hardware Errors":%d}],"id":1},"stats":{"STATUS":[{"STATUS":"S",'
    '"When":%d,"Code":70,"Msg":"CGMiner stats","Description":"cgminer 4.11.1"}],"STATS":[{"CGMiner":'
    '"4.11.1","Miner":"49.0.1.3","Type":"%s"},{"STATS":0,"ID":"BC50","Elapsed":%d,"GHS 5s":%.2f,'
    '"miner_count":3,"fan1":%d,"fan2":%d,"temp1":%d,"temp2":%d,"temp3":%d,"temp2_1":%d,"temp2_2":%d,'
    '"temp2_3":%d,"chain_power":%.1f}],"id":1}}'
)
_WHATSMINER = (
    '{"device_id":"%s","summary":{"STATUS":[{"STATUS":"S","When":%d,"Code":11,"Msg":"Summary",'
    '"Description":"btminer"}],"SUMMARY":[{"Elapsed":%d,"MHS av":%.2f,"MHS 5s":%.2f,"Accepted":%d,'
    '"Rejected":%d,"Hardware Errors":%d,"Power":%d,"Power Rate":%.2f}],"id":1},"stats":{"STATUS":'
    '[{"STATUS":"S","When":%d,"Code":70,"Msg":"CGMiner stats","Description":"btminer"}],"STATS":'
    '[{"CGMiner":"4.9.2","Miner":"20230911.16.REL","Type":"%s"},{"STATS":0,"ID":"SM0","Elapsed":%d,'
    '"MHS 5s":%.2f,"temp1":%.2f,"temp2":%.2f,"temp3":%.2f,"fan1":%d,"fan2":%d}],"id":1}}'
)

_DCGM_METRICS = (  # (name, help text); each sample carries its scrape's millisecond timestamp
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
)


def day_rows(
    clock: Clock, r: Readings, members: np.ndarray, day: int, hour: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(t, device) of the rows in day `day`'s file for these devices: on-time rows in poll order,
    then rows arriving a day late, then redelivered duplicates. With `hour`, the rows of that hour's
    file only: the on-time rows of the hour, and the late and duplicated rows of the same hour of day."""
    per_hour = clock.per_day // 24
    lo, hi = day * clock.per_day, (day + 1) * clock.per_day
    if hour is not None:
        lo, hi = lo + hour * per_hour, lo + (hour + 1) * per_hour
    tt, dd = np.nonzero(r.present[members, lo:hi].T)
    t_parts, d_parts = [tt + lo], [members[dd]]
    member_set = set(members.tolist())
    for extra in (r.late, r.duplicated):
        sel = [
            (t, d)
            for k, t, d in extra
            if k == day and d in member_set and (hour is None or (t % clock.per_day) // per_hour == hour)
        ]
        if sel:
            t_parts.append(np.array([t for t, _ in sel], dtype=np.int64))
            d_parts.append(np.array([d for _, d in sel], dtype=np.int64))
    return np.concatenate(t_parts), np.concatenate(d_parts)


class MinerWriter:
    """Formats ASIC readings as cgminer summary + stats replies, one JSON object per poll."""

    def __init__(self, clock: Clock, fleet: Fleet, r: Readings, rng: np.random.Generator):
        dev = fleet.devices
        self.clock, self.r = clock, r
        self.asics = np.flatnonzero(~fleet.is_gpu)
        self.ids = dev["device_id"].to_numpy()
        self.model = dev["model"].to_numpy()
        self.vendor_ws = np.array([ASIC_MODELS[m].vendor == "whatsminer" for m in dev["model_idx"]])
        self.boot = clock.start_epoch - rng.integers(3600, 40 * 86400, len(dev))
        minutes = clock.interval_minutes
        # Shares accepted since boot grow with the hashes done: a monotone counter per device.
        self.accepted = np.floor(
            np.cumsum(r.hashrate_ths * minutes * 0.9, axis=1) + rng.integers(10_000, 500_000, (len(dev), 1))
        )
        self.avg_ths = np.cumsum(r.hashrate_ths, axis=1) / np.arange(1, clock.n + 1)
        self.fan_noise = rng.integers(-120, 120, r.power_kw.shape)

    def lines(self, tt: np.ndarray, dd: np.ndarray) -> list[str]:
        """One JSON line per (t, device) row."""
        r, ep = self.r, self.clock.epochs
        when = ep[tt]
        elapsed = when - self.boot[dd]
        ths = r.hashrate_ths[dd, tt]
        avg = self.avg_ths[dd, tt]
        acc = self.accepted[dd, tt]
        rej = np.floor(acc * 0.0015)
        hw = np.floor(acc * 0.0003)
        temp = r.temperature_c[dd, tt]
        watts = r.power_kw[dd, tt] * 1000
        on = watts > 0
        fan = np.where(on, 4800 + 60 * (temp - 70), 1200) + self.fan_noise[dd, tt]
        out = np.empty(len(tt), dtype=object)
        ws = self.vendor_ws[dd]
        am = ~ws
        if am.any():
            t_int = np.round(temp)
            c = _cols(am, self.ids[dd], when, elapsed, ths * 1000, avg * 1000, acc, rej, hw, when,
                      self.model[dd], elapsed, ths * 1000, fan, fan + 30, t_int - 12, t_int - 11,
                      t_int - 10, t_int, t_int - 1, t_int - 2, watts)  # fmt: skip
            out[am] = [_ANTMINER % row for row in zip(*c, strict=True)]
        if ws.any():
            c = _cols(ws, self.ids[dd], when, elapsed, avg * 1e6, ths * 1e6, acc, rej, hw,
                      np.round(watts), watts / np.maximum(ths, 1e-9) * (ths > 0), when, self.model[dd],
                      elapsed, ths * 1e6, temp - 1.5, temp, temp - 0.7, fan, fan + 150)  # fmt: skip
            out[ws] = [_WHATSMINER % row for row in zip(*c, strict=True)]
        return out.tolist()


def _cols(mask: np.ndarray, *arrays) -> list[list]:
    """The masked rows of each column as Python lists (what %-formatting iterates fastest)."""
    return [np.asarray(a)[mask].tolist() for a in arrays]


class DcgmWriter:
    """Formats GPU readings as DCGM exporter scrapes: one block per host and timestamp."""

    def __init__(self, clock: Clock, fleet: Fleet, r: Readings, rng: np.random.Generator):
        dev = fleet.devices
        self.clock, self.r = clock, r
        self.gpus = np.flatnonzero(fleet.is_gpu)
        self.host = dev["hostname"].to_numpy()
        self.prefix: list[np.ndarray] = []
        labels = np.empty(len(dev), dtype=object)
        for d in self.gpus:
            uuid = "GPU-" + rng.bytes(16).hex()
            uuid = f"{uuid[:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:24]}-{uuid[24:36]}"
            g = dev["gpu"].iat[d]
            labels[d] = (
                f'{{gpu="{g}",UUID="{uuid}",device="nvidia{g}",modelName="{dev["model"].iat[d]}",'
                f'Hostname="{self.host[d]}",DCGM_FI_DRIVER_VERSION="550.90.07"}} '
            )
        for name, _ in _DCGM_METRICS:
            self.prefix.append(np.array([name + lab if lab else "" for lab in labels], dtype=object))
        is_gpu = fleet.is_gpu
        mem = np.array(
            [GPU_MODELS[m].memory_mib if g else 0 for m, g in zip(dev["model_idx"], is_gpu, strict=True)]
        )
        self.fb_used = np.where(r.gpu_util > 5, mem[:, None] * (0.55 + 0.004 * r.gpu_util), 420).astype(
            np.int64
        )

    def text(self, tt: np.ndarray, dd: np.ndarray) -> str:
        """Exporter text for the rows, grouped into scrapes of (timestamp, host) in row order."""
        r = self.r
        ms = (self.clock.epochs[tt] * 1000).tolist()
        values = (
            r.gpu_util[dd, tt].astype(np.int64).tolist(),
            np.round(r.power_kw[dd, tt] * 1000, 3).tolist(),
            r.temperature_c[dd, tt].astype(np.int64).tolist(),
            self.fb_used[dd, tt].tolist(),
        )
        fmts = ("%s%d %d", "%s%.3f %d", "%s%d %d", "%s%d %d")
        samples = [
            [f % row for row in zip(self.prefix[m][dd].tolist(), values[m], ms, strict=True)]
            for m, f in enumerate(fmts)
        ]
        heads = [f"# HELP {n} {h}\n# TYPE {n} gauge\n" for n, h in _DCGM_METRICS]
        host = self.host[dd]
        # A new scrape starts wherever the timestamp or the host changes (or a block repeats).
        key_change = np.ones(len(tt), dtype=bool)
        key_change[1:] = (tt[1:] != tt[:-1]) | (host[1:] != host[:-1]) | (dd[1:] <= dd[:-1])
        starts = np.flatnonzero(key_change).tolist() + [len(tt)]
        parts = []
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            for m in range(len(_DCGM_METRICS)):
                parts.append(heads[m])
                parts.append("\n".join(samples[m][a:b]))
                parts.append("\n")
        return "".join(parts)


def write_day(path: Path, text: str) -> None:
    """Write one daily file (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
