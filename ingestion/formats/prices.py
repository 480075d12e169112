"""Normalized price CSV, and the market facts every price reader shares."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingestion.formats.base import Parsed, read_csv_rows, reject_rows

# Market -> the timezone its local time (hour-ending, operating day) is in.
MARKET_TIMEZONES = {
    "ERCOT": "America/Chicago",
    "PJM": "America/New_York",
    "CAISO": "America/Los_Angeles",
    "MISO": "America/Chicago",
    "SPP": "America/Chicago",
    "NYISO": "America/New_York",
    "ISONE": "America/New_York",
}

PRICE_COLUMNS = [
    "market",
    "node_name",
    "node_type",
    "price_kind",
    "interval_start_utc",
    "interval_minutes",
    "interval_start_local",
    "price_usd_per_mwh",
]


def localize(local: pd.Series, tz: str, repeated: pd.Series | None = None) -> pd.Series:
    """Wall-clock times in ``tz`` to UTC. ``repeated`` marks the second (standard-time) pass through
    the fall-back hour; local times that do not exist (spring-forward gap) become NaT."""
    repeated = pd.Series(False, index=local.index) if repeated is None else repeated.fillna(False)
    # pandas' ambiguous array: True = the daylight-time reading, i.e. the first occurrence.
    first = ~repeated.astype(bool).to_numpy()
    return local.dt.tz_localize(tz, ambiguous=first, nonexistent="NaT").dt.tz_convert("UTC")


def to_local(utc: pd.Series, market: str) -> pd.Series:
    """UTC instants as naive wall-clock times of the market."""
    return utc.dt.tz_convert(MARKET_TIMEZONES[market]).dt.tz_localize(None)


def price_frame(frame: pd.DataFrame, **columns) -> pd.DataFrame:
    """``frame`` with the price columns set from ``columns`` (scalars or series), in the standard order."""
    out = pd.DataFrame(index=frame.index)
    for name in PRICE_COLUMNS:
        out[name] = columns.get(name, frame.get(name))
    out["_line"] = frame["_line"]
    return out


def read_prices(path: str | Path) -> Parsed:
    """Normalized prices: ``market,node_name,price_kind,interval_start_utc,interval_minutes,price_usd_per_mwh``."""
    parsed = read_csv_rows(
        path,
        {
            c: ()
            for c in (
                "market",
                "node_name",
                "price_kind",
                "interval_start_utc",
                "interval_minutes",
                "price_usd_per_mwh",
            )
        },
    )
    frame = parsed.frame
    frame["market"] = frame["market"].str.upper()
    known = frame["market"].isin(list(MARKET_TIMEZONES))
    utc = pd.to_datetime(frame["interval_start_utc"], utc=True, format="ISO8601", errors="coerce")
    checks = [
        (~known, "market", f"unknown market (known: {', '.join(MARKET_TIMEZONES)})"),
        (utc.isna(), "interval_start_utc", "not an ISO 8601 timestamp"),
    ]
    keep, rejects = reject_rows(frame, checks)
    frame = frame[keep].copy()
    utc = utc[frame.index]
    local = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for market, rows in frame.groupby("market").groups.items():
        local[rows] = to_local(utc[rows], market)
    out = price_frame(frame, interval_start_utc=utc, interval_start_local=local, node_type=None)
    return Parsed(out, pd.concat([parsed.rejects, rejects], ignore_index=True))
