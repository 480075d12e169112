"""Colocation energy at boundaries: a customer in a half-hour time zone (Asia/Kolkata, local
midnight at hh:30 UTC) with hourly real-time prices. The price interval that straddles the month
boundary, and one that straddles a contract-version change, are each split by time between the
two sides and billed once in total; the independent recomputation agrees to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing import invoices as inv
from billing.catalog import load_catalog
from billing.periods import period_bounds
from billing.reconcile import reconcile
from billing.reconcile_energy import energy_lines as recomputed_lines
from billing.usage import load_energy
from ingestion.bulk import ensure_day_partitions
from tests.billing import factories as f

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

TZ = "Asia/Kolkata"
UTC0 = datetime(2026, 10, 31, 0, tzinfo=UTC)


def _setup(conn) -> None:
    f.customer(conn, "k1", tz=TZ)
    conn.execute(
        """insert into raw.facilities values ('fac-1', 'Site', 'ERCOT', 'HB_WEST', 'America/Chicago',
               1000, 1.1, 1)"""
    )
    for device in ("a1", "a2"):
        conn.execute(
            """insert into raw.devices (device_id, facility_id, kind, model, nominal_power_kw, rack, load_id)
               values (%s, 'fac-1', 'asic', 'S19', 3.2, 'r9', 1)""",
            (device,),
        )
    for h in range(30):  # hourly prices 31 Oct 00:00 .. 1 Nov 06:00 UTC
        at = UTC0 + timedelta(hours=h)
        conn.execute(
            "insert into raw.energy_prices values ('ERCOT', 'HB_WEST', 'rt', %s, 60, %s, %s, 1)",
            (at, at.replace(tzinfo=None), Decimal(20 + 7 * (h % 5))),
        )
    # 10-minute samples 31 Oct 12:00 .. 1 Nov 03:00 UTC; power differs between the halves of an hour,
    # so billing a half-interval's mean for the whole hour on each side would not add up
    for n in range(15 * 6):
        at = UTC0 + timedelta(hours=12, minutes=10 * n)
        ensure_day_partitions(conn, "device_telemetry", [at])
        for device, base in (("a1", 3.0), ("a2", 2.5)):
            conn.execute(
                "insert into raw.device_telemetry (device_id, ts, power_kw, load_id) values (%s, %s, %s, 1)",
                (device, at, base + (0.5 if at.minute >= 30 else 0) + 0.1 * (n % 3)),
            )
    # a new contract version mid-hour (21:30 UTC, inside the November period)
    conn.execute(
        """insert into billing.colocation_contracts values
           ('cc-1', 'k1', 'fac-1', 'r9', 5, '2026-01-01'), ('cc-2', 'k1', 'fac-1', 'r9', 8, '2026-10-31 21:30Z')"""
    )
    f.data_until(conn, datetime(2026, 12, 5, tzinfo=UTC))


def _builder_kwh(conn, start: datetime, end: datetime) -> Decimal:
    """Builder energy of ``[start, end)`` over its contract windows (the invoice path)."""
    catalog = load_catalog(conn)
    return sum(
        (
            i.energy_kwh
            for contract, lo, hi in inv.contract_windows(catalog.colocation, "k1", start, end)
            for i in load_energy(conn, contract.facility_id, contract.rack, lo, hi)
        ),
        Decimal(0),
    )


def test_straddling_interval_is_billed_once(conn):
    _setup(conn)
    oct_start, boundary = period_bounds("2026-10", TZ)
    _, nov_end = period_bounds("2026-11", TZ)
    assert boundary == datetime(2026, 10, 31, 18, 30, tzinfo=UTC)  # mid-hour: the 18:00 price straddles it
    october, november = _builder_kwh(conn, oct_start, boundary), _builder_kwh(conn, boundary, nov_end)
    whole = _builder_kwh(conn, oct_start, nov_end)
    assert october > 0 and november > 0
    assert october + november == whole
    # the recomputation splits the same way: its energy lines match the builder's in both periods
    for start, end in ((oct_start, boundary), (boundary, nov_end)):
        priced = inv.price_customer_rows(conn, load_catalog(conn), "k1", [], start, end)
        recomputed, problems = recomputed_lines(conn, "k1", start, end)
        assert problems == [] and priced.problems == []
        assert [(x.line_kind, x.commitment_id, x.quantity, x.amount) for x in priced.lines] == [
            (x.line_kind, x.commitment_id, x.quantity, x.amount) for x in recomputed
        ]
    # November has both contract versions, split at 21:30 UTC
    assert {line.commitment_id for line in recomputed} == {"cc-1", "cc-2"}


def test_boundary_periods_reconcile(conn):
    _setup(conn)
    f.build_usage(conn)
    after = datetime(2026, 12, 10, tzinfo=UTC)
    for period in ("2026-10", "2026-11"):
        assert len(inv.finalize_period(conn, period, now=after)["finalized"]) == 1
        result = reconcile(conn, period)
        assert result["energy_lines"] > 0 and result["differences"] == []
