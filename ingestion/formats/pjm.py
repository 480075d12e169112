"""PJM Data Miner 2 LMP exports (``rt_hrl_lmps``, ``da_hrl_lmps``, ``rt_fivemin_hrl_lmps``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingestion.errors import IngestError
from ingestion.formats.base import Parsed, read_csv_rows, reject_rows
from ingestion.formats.prices import price_frame

_TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"


def read_pjm_lmp(path: str | Path) -> Parsed:
    """Rows of ``total_lmp_rt`` (or ``total_lmp_da``) per pnode; superseded rows
    (``row_is_current`` false) are rejected so staging only sees current versions."""
    columns = {
        "datetime_beginning_utc": (),
        "datetime_beginning_ept": (),
        "pnode_name": (),
        "type": (),
        "total_lmp_rt": (),
        "total_lmp_da": (),
        "row_is_current": (),
    }
    parsed = read_csv_rows(path, columns, optional={"type", "total_lmp_rt", "total_lmp_da", "row_is_current"})
    frame = parsed.frame
    header = set(frame.columns[(frame != "").any()]) if len(frame) else set()
    kind = "da" if "total_lmp_da" in header and "total_lmp_rt" not in header else "rt"
    if len(frame) and not {"total_lmp_rt", "total_lmp_da"} & header:
        raise IngestError(path, "no total_lmp_rt or total_lmp_da column", line=1)
    utc = pd.to_datetime(
        frame["datetime_beginning_utc"], format=_TIME_FORMAT, errors="coerce"
    ).dt.tz_localize("UTC")
    local = pd.to_datetime(frame["datetime_beginning_ept"], format=_TIME_FORMAT, errors="coerce")
    superseded = frame["row_is_current"].str.upper().isin(["FALSE", "F", "0", "N"])
    checks = [
        (utc.isna(), "datetime_beginning_utc", f"not a time like {_TIME_FORMAT}"),
        (local.isna(), "datetime_beginning_ept", f"not a time like {_TIME_FORMAT}"),
        (superseded, "row_is_current", "superseded version (row_is_current = FALSE)"),
    ]
    keep, rejects = reject_rows(frame, checks)
    out = price_frame(
        frame[keep],
        market="PJM",
        node_name=frame.loc[keep, "pnode_name"],
        node_type=frame.loc[keep, "type"].replace("", None),
        price_kind=kind,
        interval_start_utc=utc[keep],
        interval_minutes=interval_minutes(utc[keep], default=_single_interval_minutes(path, utc[keep])),
        interval_start_local=local[keep],
        price_usd_per_mwh=frame.loc[keep, f"total_lmp_{kind}"],
    )
    return Parsed(out, pd.concat([parsed.rejects, rejects], ignore_index=True))


def _single_interval_minutes(path: str | Path, starts: pd.Series) -> int:
    """The interval of a file whose rows all start at one moment, where no spacing tells it: PJM's
    only sub-hourly export is five-minute (``rt_fivemin_hrl_lmps``), named so, and hourly intervals
    start on the hour."""
    if "fivemin" in Path(path).name.lower() or (starts.dt.minute != 0).any():
        return 5
    return 60


def interval_minutes(starts: pd.Series, default: int = 60) -> int:
    """Interval length from the spacing of distinct interval starts (the smallest gap)."""
    distinct = pd.Series(starts.dropna().unique()).sort_values()
    gaps = distinct.diff().dropna()
    gaps = gaps[gaps > pd.Timedelta(0)]
    return int(gaps.min() / pd.Timedelta(minutes=1)) if len(gaps) else default
