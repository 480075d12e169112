"""Live sources: ISO prices (gridstatus), ASIC miners (asic-rs) and GPU nodes (DCGM exporters).

Each poller turns what it read into a landing file and loads it with
:func:`ingestion.loader.ingest_file`, so live rows take exactly the path files take.
"""

from ingestion.live.prices import (
    DEFAULT_MARKET,
    LiveSourceError,
    fetch_gridstatus,
    ingest_live,
    normalize,
    read_recorded,
)

__all__ = [
    "DEFAULT_MARKET",
    "LiveSourceError",
    "fetch_gridstatus",
    "ingest_live",
    "normalize",
    "read_recorded",
]
