"""CAISO OASIS LMP CSV (``PRC_INTVL_LMP``, ``PRC_LMP``): one row per node, interval and LMP component."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingestion.formats.base import Parsed, read_csv_rows, reject_rows
from ingestion.formats.prices import price_frame, to_local


def read_caiso_lmp(path: str | Path) -> Parsed:
    """The ``LMP_TYPE = LMP`` rows (the price itself, in the ``MW`` column as CAISO names it); the
    component rows (MCE, MCC, MCL, GHG) are not prices and are not counted as input rows."""
    columns = {
        "INTERVALSTARTTIME_GMT": (),
        "INTERVALENDTIME_GMT": (),
        "NODE": ("NODE_ID",),
        "MARKET_RUN_ID": (),
        "LMP_TYPE": ("XML_DATA_ITEM",),
        "MW": ("VALUE", "PRC"),
    }
    parsed = read_csv_rows(path, columns)
    frame = parsed.frame
    frame = frame[frame["LMP_TYPE"].str.upper().isin(["LMP", "LMP_PRC"])]
    start = pd.to_datetime(frame["INTERVALSTARTTIME_GMT"], utc=True, format="ISO8601", errors="coerce")
    end = pd.to_datetime(frame["INTERVALENDTIME_GMT"], utc=True, format="ISO8601", errors="coerce")
    minutes = (end - start) / pd.Timedelta(minutes=1)
    checks = [
        (start.isna(), "INTERVALSTARTTIME_GMT", "not an ISO 8601 time"),
        (end.isna() | ~(minutes > 0), "INTERVALENDTIME_GMT", "not a time after the interval start"),
    ]
    keep, rejects = reject_rows(frame, checks)
    frame, start = frame[keep], start[keep]
    out = price_frame(
        frame,
        market="CAISO",
        node_name=frame["NODE"],
        node_type=None,
        price_kind=frame["MARKET_RUN_ID"].str.upper().map(lambda run: "da" if run == "DAM" else "rt"),
        interval_start_utc=start,
        interval_minutes=minutes[keep].round().astype("Int64"),
        interval_start_local=to_local(start, "CAISO"),
        price_usd_per_mwh=frame["MW"],
    )
    return Parsed(out, pd.concat([parsed.rejects, rejects], ignore_index=True))
