"""ERCOT settlement point prices: real-time 15-minute (NP6-905-CD) and day-ahead hourly (NP4-190-CD).

ERCOT labels hours by their end (hour-ending 1..24, local Central time). On the fall-back day the
repeated hour appears twice, the second time with ``DSTFlag``/``Repeated Hour Flag`` = Y; on the
spring-forward day hour-ending 3 is absent (23 hours).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingestion.formats.base import Parsed, read_csv_rows, reject_rows
from ingestion.formats.prices import MARKET_TIMEZONES, localize, price_frame

_COMMON = {
    "DeliveryDate": ("Delivery Date", "OperDay", "Oper Day"),
    "SettlementPointName": ("Settlement Point Name", "SettlementPoint", "Settlement Point"),
    "SettlementPointType": ("Settlement Point Type",),
    "SettlementPointPrice": ("Settlement Point Price",),
    "DSTFlag": ("Repeated Hour Flag", "RepeatedHourFlag"),
}


def read_ercot_rt(path: str | Path) -> Parsed:
    """Real-time SPP, one row per settlement point and 15-minute interval."""
    columns = {**_COMMON, "DeliveryHour": ("Delivery Hour",), "DeliveryInterval": ("Delivery Interval",)}
    parsed = read_csv_rows(path, columns, optional={"SettlementPointType", "DSTFlag"})
    frame = parsed.frame
    hour = pd.to_numeric(frame["DeliveryHour"], errors="coerce")
    interval = pd.to_numeric(frame["DeliveryInterval"], errors="coerce")
    checks = [
        (~hour.isin(range(1, 25)), "DeliveryHour", "hour-ending must be 1..24"),
        (~interval.isin(range(1, 5)), "DeliveryInterval", "interval must be 1..4"),
    ]
    offset = pd.to_timedelta(hour - 1, unit="h") + pd.to_timedelta(15 * (interval - 1), unit="min")
    return _finish(parsed, checks, offset, price_kind="rt", minutes=15)


def read_ercot_dam(path: str | Path) -> Parsed:
    """Day-ahead SPP, one row per settlement point and hour (``HourEnding`` 01:00..24:00)."""
    columns = {**_COMMON, "HourEnding": ("Hour Ending", "DeliveryHour", "Delivery Hour")}
    parsed = read_csv_rows(path, columns, optional={"SettlementPointType", "DSTFlag"})
    hour = pd.to_numeric(parsed.frame["HourEnding"].str.split(":").str[0], errors="coerce")
    checks = [(~hour.isin(range(1, 25)), "HourEnding", "hour-ending must be 01:00..24:00")]
    return _finish(parsed, checks, pd.to_timedelta(hour - 1, unit="h"), price_kind="da", minutes=60)


def _finish(parsed: Parsed, checks: list, offset: pd.Series, *, price_kind: str, minutes: int) -> Parsed:
    frame = parsed.frame
    date = pd.to_datetime(frame["DeliveryDate"], format="%m/%d/%Y", errors="coerce")
    repeated = frame["DSTFlag"].str.upper().isin(["Y", "YES", "TRUE"])
    local = date + offset
    utc = localize(local, MARKET_TIMEZONES["ERCOT"], repeated)
    checks = [(date.isna(), "DeliveryDate", "not a date MM/DD/YYYY"), *checks]
    checks.append((utc.isna(), "DeliveryHour", "local time does not exist (DST spring-forward hour)"))
    keep, rejects = reject_rows(frame, checks)
    out = price_frame(
        frame[keep],
        market="ERCOT",
        node_name=frame.loc[keep, "SettlementPointName"],
        node_type=frame.loc[keep, "SettlementPointType"].replace("", None),
        price_kind=price_kind,
        interval_start_utc=utc[keep],
        interval_minutes=minutes,
        interval_start_local=local[keep],
        price_usd_per_mwh=frame.loc[keep, "SettlementPointPrice"],
    )
    return Parsed(out, pd.concat([parsed.rejects, rejects], ignore_index=True))
