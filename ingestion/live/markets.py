"""Live ISO prices for the configured markets: real-time and day-ahead, retried on rate limits.

Each (ISO, kind, day) is fetched through gridstatus (or any ``fetch`` with its signature, e.g. a
recorded response), filtered to the configured nodes, normalized and loaded as a ``prices`` landing
file. Prices are versioned by load: a revised price for an interval already loaded is a new row
(raw is append-only) and dbt staging keeps the latest load, so marts and billing see the revision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path

import pandas as pd
import requests
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ingestion.live.inventory import Market
from ingestion.live.prices import fetch_gridstatus, normalize
from ingestion.loader import LoadResult, ingest_file

log = logging.getLogger(__name__)

# gridstatus market names per ISO and price kind.
MARKETS = {
    "ERCOT": {"rt": "REAL_TIME_15_MIN", "da": "DAY_AHEAD_HOURLY"},
    "PJM": {"rt": "REAL_TIME_5_MIN", "da": "DAY_AHEAD_HOURLY"},
    "CAISO": {"rt": "REAL_TIME_15_MIN", "da": "DAY_AHEAD_HOURLY"},
}
RETRY_STATUS = {429, 500, 502, 503, 504}
Fetch = Callable[[str, Date | str, str], pd.DataFrame]


class PricesOff(RuntimeError):
    """Live prices are off: no network is configured (``HCP_FLEET_NETWORK``)."""


def is_transient(err: BaseException) -> bool:
    """Rate limits (HTTP 429), server errors and dropped connections are worth another try."""
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return err.response.status_code in RETRY_STATUS
    return isinstance(err, requests.ConnectionError | requests.Timeout)


def _log_retry(state: RetryCallState) -> None:
    log.warning("price fetch retry %d after %s", state.attempt_number, state.outcome.exception())


def retrying(fetch: Fetch, attempts: int = 5, initial_s: float = 2.0, max_s: float = 60.0) -> Fetch:
    """``fetch`` retried with exponential backoff and jitter on transient errors; a Retry-After
    header is not needed: the backoff grows past the ISOs' one-minute windows."""
    return retry(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(initial=initial_s, max=max_s),
        stop=stop_after_attempt(attempts),
        before_sleep=_log_retry,
        reraise=True,
    )(fetch)


@dataclass
class PriceLoad:
    iso: str
    kind: str
    day: str
    rows: int
    load: LoadResult | None

    def to_dict(self) -> dict:
        return {"iso": self.iso, "kind": self.kind, "day": self.day, "rows": self.rows,
                "load": self.load.to_dict() if self.load else None}  # fmt: skip


def load_market_prices(
    url: str,
    markets: list[Market],
    days: list[Date | str],
    landing: str | Path,
    *,
    network: bool,
    fetch: Fetch = fetch_gridstatus,
    kinds: tuple[str, ...] = ("rt", "da"),
    attempts: int = 5,
    initial_backoff_s: float = 2.0,
) -> list[PriceLoad]:
    """Fetch and load ``kinds`` prices of every market for each of ``days``. Raises PricesOff
    without ``network`` (a recorded ``fetch`` needs no network and is always allowed)."""
    if not network and fetch is fetch_gridstatus:
        raise PricesOff("live prices are off: set HCP_FLEET_NETWORK=true where the ISO sites are reachable")
    fetch = retrying(fetch, attempts, initial_backoff_s)
    folder = Path(landing) / "prices" / "live"
    folder.mkdir(parents=True, exist_ok=True)
    loads = []
    for market in markets:
        names = MARKETS.get(market.iso)
        if names is None:
            raise ValueError(f"no live price markets known for {market.iso!r} (known: {', '.join(MARKETS)})")
        for kind in kinds:
            for day in days:
                frame = fetch(market.iso, day, names[kind])
                if market.nodes:
                    frame = frame[frame["Location"].isin(market.nodes)]
                rows = normalize(frame, market.iso)
                if rows.empty:
                    loads.append(PriceLoad(market.iso, kind, str(day), 0, None))
                    continue
                stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S%f")
                path = folder / f"{market.iso.lower()}_{kind}_{str(day).replace('-', '')}_{stamp}.csv"
                rows.to_csv(path, index=False)
                loads.append(
                    PriceLoad(market.iso, kind, str(day), len(rows), ingest_file(url, "prices", path))
                )
    return loads
