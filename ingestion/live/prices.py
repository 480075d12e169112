"""Optional live ISO prices through gridstatus (the ``live`` extra), off unless asked for.

The fetched DataFrame is normalized to the ``prices`` landing format, written as a landing file and
loaded by :func:`ingestion.loader.ingest_file`, so live rows take exactly the file path: same
validation, duplicate skipping and load log. A recorded DataFrame (CSV) stands in for the network
in tests and offline demos: the source is chosen by argument, not by patching.
"""

from __future__ import annotations

from datetime import date as Date
from pathlib import Path

import pandas as pd

from core.settings import get_settings
from ingestion.formats.prices import MARKET_TIMEZONES
from ingestion.loader import LoadResult, ingest_file

_CLIENTS = {
    "ERCOT": "Ercot",
    "PJM": "PJM",
    "CAISO": "CAISO",
    "MISO": "MISO",
    "NYISO": "NYISO",
    "ISONE": "ISONE",
    "SPP": "SPP",
}
DEFAULT_MARKET = {"ERCOT": "REAL_TIME_15_MIN", "PJM": "REAL_TIME_HOURLY", "CAISO": "REAL_TIME_15_MIN"}


class LiveSourceError(RuntimeError):
    """The live source cannot run here (gridstatus missing, unknown ISO); the message says why."""


def fetch_gridstatus(iso: str, day: Date | str, market: str | None = None) -> pd.DataFrame:
    """One day of prices from gridstatus: ``get_spp`` for ERCOT, ``get_lmp`` elsewhere."""
    iso = iso.upper()
    if iso not in _CLIENTS:
        raise LiveSourceError(f"unknown ISO {iso!r} (known: {', '.join(_CLIENTS)})")
    try:
        import gridstatus  # optional extra, imported only when the live source is used
    except ImportError:
        raise LiveSourceError(
            "live prices need gridstatus, the optional 'live' extra: uv sync --extra live"
        ) from None
    client = getattr(gridstatus, _CLIENTS[iso])()
    market = market or DEFAULT_MARKET.get(iso, "REAL_TIME_HOURLY")
    if iso == "ERCOT":
        return client.get_spp(date=day, market=market, location_type="Trading Hub")
    return client.get_lmp(date=day, market=market)


def read_recorded(path: str | Path) -> pd.DataFrame:
    """A recorded gridstatus DataFrame (saved with ``to_csv(index=False)``)."""
    return pd.read_csv(path)


def normalize(frame: pd.DataFrame, iso: str) -> pd.DataFrame:
    """gridstatus rows (``Interval Start``, ``Interval End``, ``Market``, ``Location``, ``SPP``/``LMP``)
    as the normalized ``prices`` landing format."""
    iso = iso.upper()
    price = "SPP" if "SPP" in frame.columns else "LMP"
    start = pd.to_datetime(frame["Interval Start"], utc=True)
    end = pd.to_datetime(frame["Interval End"], utc=True)
    market = (
        frame["Market"].astype(str).str.upper() if "Market" in frame else pd.Series("", index=frame.index)
    )
    return pd.DataFrame(
        {
            "market": iso,
            "node_name": frame["Location"],
            "price_kind": market.str.contains("DAY_AHEAD").map({True: "da", False: "rt"}),
            "interval_start_utc": start.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "interval_minutes": ((end - start) / pd.Timedelta(minutes=1)).round().astype("Int64"),
            "price_usd_per_mwh": frame[price],
        }
    )


def ingest_live(
    url: str,
    iso: str,
    day: Date | str,
    *,
    market: str | None = None,
    recorded: str | Path | None = None,
    landing: str | Path | None = None,
) -> LoadResult:
    """Fetch (or read ``recorded``) one day of ``iso`` prices, land them under
    ``<landing>/prices/live/`` and load them as kind ``prices``."""
    if iso.upper() not in MARKET_TIMEZONES:
        raise LiveSourceError(f"no market timezone for {iso!r}")
    frame = read_recorded(recorded) if recorded else fetch_gridstatus(iso, day, market)
    folder = Path(landing or get_settings().landing) / "prices" / "live"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{iso.lower()}_{str(day).replace('-', '')}_{(market or 'default').lower()}.csv"
    normalize(frame, iso).to_csv(path, index=False)
    return ingest_file(url, "prices", path)
