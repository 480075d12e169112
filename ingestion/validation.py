"""Row validation: types from the raw table, physical ranges, enumerations, known ids, no future
timestamps, every timestamp inside the sane time window (:func:`ingestion.limits.time_window`). Vectorised over the whole frame (the telemetry hot path has millions of rows); each
failing row gets the first field that failed and why."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from ingestion.formats.base import REJECT_COLUMNS, raw_records
from ingestion.limits import time_window
from ingestion.tables import TABLES, Column

# (column, lowest, highest) per table: physical or market bounds, inclusive.
RANGES: dict[str, list[tuple[str, float, float]]] = {
    "energy_prices": [("price_usd_per_mwh", -10_000, 100_000), ("interval_minutes", 1, 1440)],
    "btc_economics": [
        ("btc_price_usd", 0.01, 1e8), ("difficulty", 1, 1e20), ("hashrate_ths", 0, 1e15),
        ("block_subsidy_btc", 0, 50), ("fees_btc_per_block", 0, 1000),
    ],
    "facilities": [("power_cap_kw", 0.001, 1e7), ("pue", 1.0, 3.0)],
    "devices": [("nominal_power_kw", 0, 100), ("nominal_hashrate_ths", 0, 10_000)],
    "customers": [("tax_rate", 0, 1)],
    "rate_cards": [("price_usd_per_gpu_hour", 0, 10_000), ("min_increment_seconds", 1, 86_400)],
    "workload_events": [("gpus_requested", 0, 1_000_000)],
    "device_telemetry": [
        ("power_kw", 0, 100), ("hashrate_ths", 0, 10_000), ("gpu_util_pct", 0, 100), ("temperature_c", -40, 150),
    ],
    "site_meter": [("power_kw", 0, 1e7)],
    "fleet_status": [("power_kw", 0, 100), ("power_target_kw", 0, 100)],
    "demand_response_events": [("curtail_kw", 0, 1e7), ("credit_usd_per_mwh", -10_000, 100_000)],
}  # fmt: skip

ENUMS: dict[str, list[tuple[str, set[str]]]] = {
    "energy_prices": [("price_kind", {"rt", "da"})],
    "devices": [("kind", {"asic", "gpu"})],
    "fleet_status": [
        ("state", {"mining", "sleeping", "serving", "idle", "unreachable", "error"}),
        ("source", {"miner", "gpu"}),
    ],
    "customers": [("customer_type", {"inference", "colocation"})],
    "workload_events": [
        ("event_type", {"submitted", "started", "paused", "resumed", "completed", "cancelled", "failed"})
    ],
}

# (column, reference set name): ids that must already be registered.
KNOWN_IDS = {"device_telemetry": ("device_id", "devices"), "site_meter": ("facility_id", "facilities")}

# How far past "now" a timestamp may lie (clock skew; day-ahead prices are for tomorrow).
FUTURE_TOLERANCE = {
    "energy_prices": ("interval_start_utc", timedelta(days=2)),
    "btc_economics": ("observed_at", timedelta(days=1)),
    "device_telemetry": ("ts", timedelta(hours=1)),
    "site_meter": ("ts", timedelta(hours=1)),
    "fleet_status": ("ts", timedelta(hours=1)),
    "workload_events": ("event_at", timedelta(hours=1)),
}

# Timestamps that are dates of validity, not observations: they may lie further ahead than the
# window's end (a rate card announced for next quarter); the window's start still holds.
EFFECTIVE_DATES = {("rate_cards", "effective_from")}


def validate(
    table: str, frame: pd.DataFrame, known: dict[str, set[str]] | None = None, now: datetime | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(valid rows typed for the table, rejects)``; rejects have ``_line, field, reason, raw``."""
    spec = TABLES[table]
    out = frame.copy(deep=False)  # new columns only: the caller's frame keeps the raw values
    field = np.full(len(frame), None, dtype=object)
    reason = np.full(len(frame), None, dtype=object)
    bad = np.zeros(len(frame), dtype=bool)

    def mark(mask, name: str, why: str) -> None:
        hit = np.asarray(mask, dtype=bool) & ~bad
        if hit.any():
            field[hit], reason[hit] = name, why
            bad[hit] = True

    for column in spec.columns:
        typed, invalid = coerce(out[column.name], column)
        out[column.name] = typed
        mark(invalid, column.name, f"not a valid {column.type.split(':')[0]}")
        if column.required:
            mark(_null(typed), column.name, "missing")
    for name, low, high in RANGES.get(table, []):
        values = out[name]
        mark(values.notna() & ~values.between(low, high), name, f"outside [{low:g}, {high:g}]")
    for name, allowed in ENUMS.get(table, []):
        mark(out[name].notna() & ~out[name].isin(list(allowed)), name, f"not one of {sorted(allowed)}")
    if table in KNOWN_IDS:
        name, reference = KNOWN_IDS[table]
        ids = (known or {}).get(reference, set())
        mark(out[name].notna() & ~out[name].isin(list(ids)), name, f"unknown {name} (not in raw.{reference})")
    if table in FUTURE_TOLERANCE:
        name, tolerance = FUTURE_TOLERANCE[table]
        limit = pd.Timestamp(now or datetime.now(UTC)) + tolerance
        # the reason names the tolerance, not the clock, so a re-ingest finds the same reject again
        mark(out[name] > limit, name, f"in the future (more than {tolerance} ahead of the load)")
    earliest, latest = (pd.Timestamp(t, unit="s", tz="UTC") for t in time_window(now))
    for column in spec.columns:
        if column.type == "timestamptz":
            values = out[column.name]
            outside = values < earliest
            if (table, column.name) not in EFFECTIVE_DATES:
                outside = outside | (values > latest)
            # the reason names the settings, not the clock, so a re-ingest finds the same reject again
            mark(outside & values.notna(), column.name, _WINDOW_REASON)
    for name, mask, why in _row_rules(table, out):
        mark(mask, name, why)
    rejects = pd.DataFrame(
        {
            "_line": frame["_line"].to_numpy()[bad],
            "field": field[bad],
            "reason": reason[bad],
            "raw": raw_records(frame[bad]),
        }
    )
    return (out[~bad] if bad.any() else out), rejects[REJECT_COLUMNS]


_WINDOW_REASON = "outside the accepted time window (HCP_INGEST_EARLIEST to HCP_INGEST_MAX_DAYS_AHEAD ahead)"


def _row_rules(table: str, frame: pd.DataFrame) -> list[tuple[str, pd.Series, str]]:
    """Rules that involve more than one column or a lookup."""
    rules = []
    if "timezone" in frame and table in ("facilities", "customers"):
        zones = zoneinfo.available_timezones()
        rules.append(
            (
                "timezone",
                frame["timezone"].notna() & ~frame["timezone"].isin(list(zones)),
                "unknown IANA timezone",
            )
        )
    if table == "demand_response_events":
        rules.append(("end_at", frame["end_at"] <= frame["start_at"], "end_at must be after start_at"))
    if table == "customers":
        rules.append(("email", ~frame["email"].fillna("").str.contains("@"), "not an email address"))
    if table == "device_telemetry":
        empty = np.logical_and.reduce(
            [
                frame[m].isna().to_numpy()
                for m in ("power_kw", "hashrate_ths", "gpu_util_pct", "temperature_c")
            ]
        )
        rules.append(("power_kw", empty, "no measurement in the row"))
    return rules


def coerce(values: pd.Series, column: Column) -> tuple[pd.Series, np.ndarray]:
    """``(typed values, mask of values present but unreadable)`` for a column of the table."""
    kind = column.type.split(":")[0]
    none = np.zeros(len(values), dtype=bool)
    if kind == "text":
        if isinstance(values.dtype, pd.CategoricalDtype):  # the telemetry reader's device ids
            return (values.cat.remove_categories([""]) if "" in values.cat.categories else values), none
        if values.dtype == object:
            blank = values.isna() | (values == "")
            return values.where(~blank, None), none
        return values.astype(object).where(values.notna(), None), none
    if kind in ("real", "numeric", "int"):
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            typed, invalid = values.astype("float64", copy=False), none
        else:
            blank = values.isna() | (values.astype(str).str.strip() == "")
            typed = pd.to_numeric(values.where(~blank, None), errors="coerce").astype("float64")
            invalid = (typed.isna() & ~blank).to_numpy()
        invalid = invalid | np.isinf(typed.to_numpy())
        if kind == "int":
            invalid = invalid | (typed.notna() & (typed % 1 != 0)).to_numpy()
        return (typed.where(~invalid) if invalid.any() else typed), invalid
    if kind == "timestamptz":
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            return values.dt.tz_convert("UTC"), none
        if pd.api.types.is_datetime64_dtype(values):
            return values.dt.tz_localize("UTC"), none
        blank = values.isna() | (values.astype(str).str.strip() == "")
        typed = pd.to_datetime(values.where(~blank, None), utc=True, format="ISO8601", errors="coerce")
        return typed, (typed.isna() & ~blank).to_numpy()
    return values, none  # timestamp (set by the readers) and text[] pass through


def _null(values: pd.Series) -> pd.Series:
    return values.isna()
