"""NVIDIA DCGM exporter text exposition: one scrape after another, each sample timestamped (ms).

The three metrics read are pivoted to one telemetry row per device and timestamp; other metrics are
not telemetry the platform keeps and are not counted as input rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingestion.errors import IngestError
from ingestion.formats.base import Parsed, read_text, rejects_frame

# metric -> (telemetry column, factor to the column's unit)
METRICS = {
    "DCGM_FI_DEV_GPU_UTIL": ("gpu_util_pct", 1.0),
    "DCGM_FI_DEV_POWER_USAGE": ("power_kw", 0.001),
    "DCGM_FI_DEV_GPU_TEMP": ("temperature_c", 1.0),
}
_SAMPLE = r"^(?P<metric>[A-Za-z_:][\w:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+(?P<ms>-?\d+))?\s*$"


def read_dcgm(path: str | Path) -> Parsed:
    """Telemetry rows (``gpu_util_pct``, ``power_kw``, ``temperature_c``) of device ``<Hostname>-gpu<gpu>``."""
    lines = pd.Series(read_text(path).splitlines())
    lines.index = range(1, len(lines) + 1)
    lines = lines[(lines.str.strip() != "") & ~lines.str.lstrip().str.startswith("#")]
    samples = lines.str.extract(_SAMPLE)
    unreadable = samples["metric"].isna()
    if len(lines) and unreadable.all():
        raise IngestError(path, "not DCGM exporter text (no metric samples)", line=int(lines.index[0]))
    samples = samples[~unreadable & samples["metric"].isin(list(METRICS))]
    gpu = samples["labels"].str.extract(r'(?:^|,)\s*gpu="([^"]*)"')[0]
    host = samples["labels"].str.extract(r'(?:^|,)\s*Hostname="([^"]*)"')[0]
    value = pd.to_numeric(samples["value"], errors="coerce")
    checks = [
        (gpu.isna() | host.isna(), "labels", "sample without gpu and Hostname labels"),
        (samples["ms"].isna(), "timestamp", "sample without a millisecond timestamp"),
        (value.isna(), "value", "not a number"),
    ]
    bad = pd.Series(False, index=samples.index)
    rejects = [
        (int(line), None, "not a metric sample line", lines[line]) for line in unreadable[unreadable].index
    ]
    for mask, field, reason in checks:
        rejects += [(int(line), field, reason, lines[line]) for line in samples.index[mask & ~bad]]
        bad |= mask
    good = samples[~bad]
    long = pd.DataFrame(
        {
            "device_id": host[~bad] + "-gpu" + gpu[~bad],
            "ts": pd.to_datetime(good["ms"].astype("int64"), unit="ms", utc=True),
            "column": good["metric"].map(lambda m: METRICS[m][0]),
            "value": value[~bad] * good["metric"].map(lambda m: METRICS[m][1]),
            "_line": good.index,
        }
    )
    wide = long.pivot_table(index=["device_id", "ts"], columns="column", values="value", aggfunc="last")
    wide = wide.reindex(columns=["power_kw", "gpu_util_pct", "temperature_c"])
    wide["_line"] = long.groupby(["device_id", "ts"])["_line"].min()
    frame = wide.reset_index().sort_values("_line", kind="stable").reset_index(drop=True)
    frame["hashrate_ths"] = float("nan")
    frame = frame[["device_id", "ts", "power_kw", "hashrate_ths", "gpu_util_pct", "temperature_c", "_line"]]
    return Parsed(frame, rejects_frame(rejects))
