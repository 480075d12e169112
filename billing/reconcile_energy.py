"""Colocation energy recomputed for reconciliation, in pandas from the raw tables, independently of
the invoice builder's SQL (:data:`billing.usage.ENERGY_SQL`).

The rule (the contract, written down here as the builder applies it):

- A colocation rack's devices are those whose latest ``raw.devices`` row names the contract's
  facility and rack; its samples are their ``raw.device_telemetry`` rows (latest load per device
  and instant) with a measured power.
- Each sample belongs to the facility node's real-time price interval that contains it (latest
  load per interval start). A sample of the billing period outside every priced interval is a
  data-quality problem and is not billed.
- A device's power in an interval is the mean of ALL its samples in the interval (also those
  outside the billing period or contract version), stated to the micro-kilowatt (half-up):
  missing samples are filled by the mean of the others.
- Boundaries: a billing window is the part of the billing period in which one contract version is
  in force (the rows of ``billing.colocation_contracts`` of one (customer, facility, rack) are
  versions of one contract, each in force from its ``effective_from`` until the next, never
  before the first). A window bills each interval's rack power times the interval's OVERLAP with
  the window, so an interval straddling a period or version boundary (a half-hour time zone with
  hourly prices) is split between the two sides by time and billed exactly once in total.
- Per version: ``energy`` = sum of kWh x price / 1000 and ``energy_adder`` = kWh x adder / 1000,
  exact until one rounding per line (kernels.billing.round_money).
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import psycopg
from psycopg import sql

from billing.engine import Line
from kernels.billing import exact, quantity, round_money

MICRO = 1_000_000


def _frame(conn: psycopg.Connection, query: str, params: dict, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(conn.execute(query, params).fetchall(), columns=columns)


def _latest(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The latest load of each ``keys`` (raw tables are append-only: a revision is a newer load)."""
    return frame.sort_values("load_id").drop_duplicates(keys, keep="last")


def _telemetry(conn: psycopg.Connection, devices: list[str], start: datetime, end: datetime) -> pd.DataFrame:
    """Raw samples of ``devices`` in ``[start, end)`` through COPY (a month of a rack is millions)."""
    query = sql.SQL(
        """copy (select device_id, ts, power_kw, load_id from raw.device_telemetry
                 where device_id = any({}) and ts >= {} and ts < {} and power_kw is not null)
           to stdout with (format csv)"""
    ).format(sql.Literal(devices), sql.Literal(start), sql.Literal(end))
    buffer = io.BytesIO()
    with conn.cursor().copy(query) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    # float32: the column is `real`; its text form round-trips to the very value measured.
    frame = pd.read_csv(
        buffer,
        names=["device_id", "ts", "power_kw", "load_id"],
        dtype={"device_id": str, "power_kw": "float32", "load_id": "int64"},
    )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return _latest(frame, ["device_id", "ts"])


def _prices(conn: psycopg.Connection, facility_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Real-time prices of the facility's node (its latest row), latest load per interval."""
    facility = _frame(
        conn,
        "select market, price_node, load_id from raw.facilities where facility_id = %(f)s",
        {"f": facility_id},
        ["market", "node", "load_id"],
    ).sort_values("load_id")
    columns = ["interval_start", "minutes", "price", "load_id"]
    if facility.empty:
        return pd.DataFrame(columns=columns[:3]).astype({"interval_start": "datetime64[ns, UTC]"})
    market, node = facility.iloc[-1][["market", "node"]]
    prices = _frame(
        conn,
        """select interval_start_utc, interval_minutes, price_usd_per_mwh, load_id from raw.energy_prices
           where market = %(market)s and node_name = %(node)s and price_kind = 'rt'
             and interval_start_utc >= %(lo)s and interval_start_utc < %(end)s""",
        {"market": market, "node": node, "lo": start - timedelta(days=1), "end": end},
        columns,
    )
    prices = _latest(prices, ["interval_start"]).sort_values("interval_start")
    prices["interval_start"] = pd.to_datetime(prices["interval_start"], utc=True)
    return prices[columns[:3]]


def _rack_devices(conn: psycopg.Connection, facility_id: str, rack: str) -> list[str]:
    devices = _latest(
        _frame(
            conn,
            "select device_id, facility_id, rack, load_id from raw.devices",
            {},
            ["device_id", "facility_id", "rack", "load_id"],
        ),
        ["device_id"],
    )
    return sorted(devices.loc[(devices.facility_id == facility_id) & (devices.rack == rack), "device_id"])


def interval_energy(
    conn: psycopg.Connection, facility_id: str, rack: str, start: datetime, end: datetime
) -> tuple[pd.DataFrame, list[str]]:
    """Rack power of each priced interval overlapping ``[start, end)``: columns ``interval_start``,
    ``interval_end``, ``price`` (Decimal USD/MWh) and ``micro_kw`` (int, summed device means over
    all the interval's samples); and the problems found."""
    reach = timedelta(hours=1)  # market intervals are at most an hour long
    samples = _telemetry(conn, _rack_devices(conn, facility_id, rack), start - reach, end + reach)
    prices = _prices(conn, facility_id, start, end + reach)
    columns = ["interval_start", "interval_end", "price", "micro_kw"]
    if samples.empty:
        return pd.DataFrame(columns=columns), []
    matched = pd.merge_asof(
        samples.sort_values("ts"), prices, left_on="ts", right_on="interval_start", direction="backward"
    )
    inside = matched["interval_start"].notna() & (
        matched["ts"] < matched["interval_start"] + pd.to_timedelta(matched["minutes"].fillna(0), unit="min")
    )
    in_period = (matched["ts"] >= start) & (matched["ts"] < end)
    problems = [
        f"no real-time price for {facility_id} rack {rack} at {ts.isoformat()}"
        for ts in sorted(set(matched.loc[~inside & in_period, "ts"]))
    ]
    per_device = (
        matched[inside]
        .groupby(["interval_start", "device_id"])
        .agg(total=("power_kw", "sum"), n=("power_kw", "size"))
    )
    # float32 samples sum exactly in float64; the mean is then rounded once, half-up, to the micro-kW.
    micro_kw = [
        int(Fraction(float(total)) * MICRO / n + Fraction(1, 2))
        for total, n in zip(per_device["total"], per_device["n"], strict=True)
    ]
    rack_micro_kw = pd.Series(micro_kw, index=per_device.index).groupby(level="interval_start").sum()
    energy = (
        prices.set_index("interval_start").join(rack_micro_kw.rename("micro_kw"), how="inner").reset_index()
    )
    energy["interval_end"] = energy["interval_start"] + pd.to_timedelta(energy["minutes"], unit="min")
    energy = energy[(energy["interval_end"] > start) & (energy["interval_start"] < end)]
    return energy[columns], problems


def _versions(conn: psycopg.Connection, customer_id: str) -> pd.DataFrame:
    return _frame(
        conn,
        """select contract_id, facility_id, rack, adder_usd_per_mwh, effective_from
           from billing.colocation_contracts where customer_id = %(cid)s""",
        {"cid": customer_id},
        ["contract_id", "facility_id", "rack", "adder", "effective_from"],
    )


def _windows(
    group: pd.DataFrame, start: datetime, end: datetime
) -> list[tuple[str, Decimal, datetime, datetime]]:
    """(contract_id, adder, from, to): the part of ``[start, end)`` each version is in force."""
    versions = group.assign(effective_from=pd.to_datetime(group["effective_from"], utc=True)).sort_values(
        ["effective_from", "contract_id"]
    )
    rows = list(versions.itertuples())
    windows = []
    for version, following in zip(rows, rows[1:] + [None], strict=True):
        lo = max(pd.Timestamp(start), version.effective_from)
        hi = min(pd.Timestamp(end), following.effective_from) if following is not None else pd.Timestamp(end)
        if lo < hi:
            windows.append((version.contract_id, Decimal(version.adder), lo, hi))
    return windows


def energy_lines(
    conn: psycopg.Connection, customer_id: str, start: datetime, end: datetime
) -> tuple[list[Line], list[str]]:
    """The colocation lines a customer's period should carry (``energy`` and ``energy_adder`` per
    contract version with energy), recomputed by the rule of the module doc; and problems."""
    versions = _versions(conn, customer_id)
    lines: list[Line] = []
    problems: list[str] = []
    for (facility_id, rack), group in versions.groupby(["facility_id", "rack"], sort=True):
        energy, found = interval_energy(conn, facility_id, rack, start, end)
        problems += found
        if energy.empty:
            continue
        billed: dict[str, list] = {}
        for contract_id, adder, lo, hi in _windows(group, start, end):
            seconds = (
                (energy["interval_end"].clip(upper=hi) - energy["interval_start"].clip(lower=lo))
                .dt.total_seconds()
                .astype("int64")
            )
            for micro_kw, price, s in zip(energy["micro_kw"], energy["price"], seconds, strict=True):
                if s > 0:
                    entry = billed.setdefault(contract_id, [adder, []])
                    entry[1].append((Fraction(int(micro_kw) * int(s), 3600 * MICRO), price))
        for contract_id in sorted(billed):
            adder, rows = billed[contract_id]
            lines += _contract_lines(contract_id, facility_id, rack, adder, rows)
    return lines, problems


def _contract_lines(
    contract_id: str, facility_id: str, rack: str, adder: Decimal, rows: list[tuple[Fraction, Decimal]]
) -> list[Line]:
    kwh = sum((k for k, _ in rows), Fraction(0))
    if not kwh:
        return []
    cost = sum((k * exact(p) for k, p in rows), Fraction(0)) / 1000
    mwh = quantity(kwh / 1000)
    return [
        Line(
            "energy",
            f"Colocation energy, rack {rack} at {facility_id}, real-time price",
            mwh,
            "MWh",
            quantity(cost * 1000 / kwh),
            round_money(cost),
            commitment_id=contract_id,
        ),
        Line(
            "energy_adder",
            f"Colocation energy adder ({adder}/MWh)",
            mwh,
            "MWh",
            adder,
            round_money(kwh * exact(adder) / 1000),
            commitment_id=contract_id,
        ),
    ]
