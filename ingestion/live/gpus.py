"""Scraping DCGM exporters (Prometheus text over HTTP), one per GPU node.

Exporters serve samples without timestamps; the scrape time is appended to every sample so the
file reads exactly as the DCGM landing format (:mod:`ingestion.formats.dcgm`), whose parser turns
it into telemetry rows. A node that does not answer is a ``fleet-status`` row, not an error.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ingestion.formats.dcgm import read_dcgm
from ingestion.live.inventory import GpuNode

_SAMPLE = re.compile(r"^([A-Za-z_:][\w:]*(?:\{.*\})?)\s+(\S+)\s*$")


@dataclass
class Scrape:
    node: GpuNode
    ts: float
    text: str | None  # None: the node did not answer
    error: str | None = None


def scrape(node: GpuNode, timeout_s: float) -> Scrape:
    ts = time.time()
    try:
        with urllib.request.urlopen(node.url, timeout=timeout_s) as response:  # noqa: S310 (configured URL)
            return Scrape(node, ts, response.read().decode("utf-8", errors="replace"))
    except (urllib.error.URLError, OSError, ValueError) as err:
        return Scrape(node, ts, None, f"{type(err).__name__}: {err}")


def scrape_all(nodes: list[GpuNode], timeout_s: float, concurrency: int) -> list[Scrape]:
    """Every node, at most ``concurrency`` at once (blocking HTTP in threads)."""
    if not nodes:
        return []
    with ThreadPoolExecutor(max_workers=min(concurrency, len(nodes))) as pool:
        return list(pool.map(lambda n: scrape(n, timeout_s), nodes))


def stamped(text: str, ts: float) -> str:
    """The exposition with the scrape time (ms) on every sample that has none."""
    ms = int(ts * 1000)
    lines = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        lines.append(
            f"{match.group(1)} {match.group(2)} {ms}" if match and not line.startswith("#") else line
        )
    return "\n".join(lines) + "\n"


def write_landing(scrapes: list[Scrape], folder: Path, stamp: str) -> tuple[Path | None, list[dict]]:
    """``(dcgm landing file or None, fleet-status records)``."""
    answered = [s for s in scrapes if s.text is not None]
    path = None
    if answered:
        path = folder / "dcgm" / f"gpus_{stamp}.prom"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(stamped(s.text, s.ts) for s in answered))
    status = [
        {"device_id": s.node.node, "ts": s.ts, "source": "gpu", "address": s.node.url, "state": "unreachable",
         "detail": s.error}
        for s in scrapes
        if s.text is None
    ]  # fmt: skip
    if path is not None:
        frame = read_dcgm(path).frame
        urls = {s.node.node: s.node.url for s in answered}
        for row in frame.itertuples():
            node = str(row.device_id).rsplit("-gpu", 1)[0]
            util = row.gpu_util_pct
            status.append(
                {
                    "device_id": row.device_id,
                    "ts": row.ts.timestamp(),
                    "source": "gpu",
                    "address": urls.get(node),
                    "state": "serving" if util == util and util > 0 else "idle",
                    "power_w": None if row.power_kw != row.power_kw else float(row.power_kw) * 1000,
                }
            )
    return path, status
