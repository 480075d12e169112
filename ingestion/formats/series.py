"""Single series read for evaluation and replays: an hourly price history from any CSV with a time
and a price column, and the daily hashprice from blockchain.com chart exports (or a plain CSV).

Unlike the landing readers nothing is stored: a row that cannot be read stops the read with an
error naming the file, line and field, since a replay on silently thinned data would mislead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ingestion.errors import IngestError
from ingestion.formats.base import header_key, read_text
from kernels.forecasting.sources import hashprice_from_revenue

TIME_COLUMNS = (
    "datetime_beginning_utc",
    "interval_start_utc",
    "timestamp",
    "datetime",
    "time",
    "ts",
    "ds",
    "date",
)
PRICE_COLUMNS = ("total_lmp_rt", "rt_lmp", "lmp", "price_usd_per_mwh", "price", "settlementpointprice", "y")
HASHPRICE_COLUMNS = ("hashprice_usd_per_th_day", "hashprice", "value")


def _frame(path: Path) -> pd.DataFrame:
    import io

    text = read_text(path)
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise IngestError(path, f"not a readable CSV ({str(err).strip().splitlines()[0]})") from None


def _column(path: Path, frame: pd.DataFrame, given: str | None, known: tuple[str, ...], what: str) -> str:
    """The column named ``given``, else the first of ``known`` present (header-insensitive)."""
    keys = {header_key(c): c for c in frame.columns}
    for name in (given,) if given else known:
        if header_key(name) in keys:
            return keys[header_key(name)]
    hint = f"--{what}-col" if what != "hashprice" else "a column"
    raise IngestError(
        path,
        f"no {what} column {given or ' / '.join(known)!r} ({hint} names it); columns: {', '.join(frame.columns)}",
        line=1,
    )


def _times(path: Path, frame: pd.DataFrame, column: str) -> pd.DatetimeIndex:
    """UTC times: texts with an offset are converted, naive ones are read as UTC."""
    parsed = pd.to_datetime(frame[column].str.strip(), utc=True, errors="coerce", format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        row = int(bad[0])
        raise IngestError(path, f"not a time: {frame[column].iloc[row]!r}", line=row + 2, field=column)
    return pd.DatetimeIndex(parsed)


def _numbers(path: Path, frame: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy())
    if len(bad):
        row = int(bad[0])
        raise IngestError(path, f"not a number: {frame[column].iloc[row]!r}", line=row + 2, field=column)
    return values.to_numpy(float)


def read_price_series(
    path: str | Path, time_col: str | None = None, price_col: str | None = None
) -> pd.Series:
    """Hourly prices (USD/MWh) indexed by the hour's start in UTC, sorted: duplicated hours and
    sub-hourly intervals are averaged into their hour; missing hours stay missing."""
    path = Path(path)
    frame = _frame(path)
    if frame.empty:
        raise IngestError(path, "no rows after the header", line=2)
    tcol = _column(path, frame, time_col, TIME_COLUMNS, "time")
    pcol = _column(path, frame, price_col, PRICE_COLUMNS, "price")
    series = pd.Series(_numbers(path, frame, pcol), index=_times(path, frame, tcol).floor("h"))
    return series.groupby(level=0).mean().sort_index().rename("price_usd_mwh")


def read_chart(path: Path) -> pd.Series:
    """A blockchain.com chart export (``Timestamp,<metric>``, UTF-8 with BOM), by UTC time."""
    frame = _frame(path)
    if len(frame.columns) < 2:
        raise IngestError(path, "expected a time and a value column", line=1)
    tcol = _column(path, frame, None, ("timestamp", "date", "time"), "time")
    vcol = next(c for c in frame.columns if c != tcol)
    return pd.Series(_numbers(path, frame, vcol), index=_times(path, frame, tcol)).sort_index()


def read_hashprice(path: str | Path) -> pd.Series:
    """Daily hashprice (USD per TH/s per day) by UTC day.

    ``path`` is either a folder with blockchain.com's ``miners-revenue.csv`` (USD per day, subsidy
    and fees) and ``hash-rate.csv`` (TH/s), every two or three days, interpolated daily; or a CSV
    with a date and a hashprice column (``hashprice_usd_per_th_day``, ``hashprice`` or ``value``).
    """
    path = Path(path)
    if path.is_dir():
        missing = [n for n in ("miners-revenue.csv", "hash-rate.csv") if not (path / n).is_file()]
        if missing:
            raise IngestError(path, f"folder lacks {', '.join(missing)} (blockchain.com chart exports)")
        return hashprice_from_revenue(
            read_chart(path / "miners-revenue.csv"), read_chart(path / "hash-rate.csv")
        )
    if not path.is_file():
        raise IngestError(path, "no such file or folder")
    frame = _frame(path)
    tcol = _column(path, frame, None, TIME_COLUMNS, "time")
    vcol = _column(path, frame, None, HASHPRICE_COLUMNS, "hashprice")
    series = pd.Series(_numbers(path, frame, vcol), index=_times(path, frame, tcol).floor("D"))
    return series.groupby(level=0).mean().sort_index().rename("hashprice_usd_per_th_day")
