"""Each suite passes on clean data and fails, naming the expectation, on one specific defect."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from expectations.runner import run_check
from expectations.suites import CHECKS, MART_CHECKS
from tests.quality import data

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

SPECS = {spec.name: spec for spec in CHECKS + MART_CHECKS}


def failing_expectations(outcome) -> set[str]:
    return {f["expectation"] for f in outcome.failing}


@pytest.fixture()
def raw(qconn):
    data.open_load(qconn)
    return qconn


# --- prices ---------------------------------------------------------------------------------------


def prices(quality_url):
    return run_check(quality_url, SPECS["energy_prices_suite"], data.DAY)


def test_prices_clean(raw, quality_url):
    data.insert_prices(raw, data.price_rows())
    outcome = prices(quality_url)
    assert outcome.passed, outcome.failing
    assert outcome.rows_checked == 96 + 1


def test_prices_gap(raw, quality_url):
    rows = data.price_rows()
    data.insert_prices(raw, rows[:40] + rows[41:])
    outcome = prices(quality_url)
    assert not outcome.passed
    assert failing_expectations(outcome) == {"expect_column_pair_values_to_be_equal"}
    assert outcome.sample[0]["node_name"] == "HB_NORTH"


def test_prices_duplicate_interval_in_one_load(raw, quality_url):
    rows = data.price_rows()
    data.insert_prices(raw, [*rows, rows[5][:6] + (99.0, 1)])
    outcome = prices(quality_url)
    assert "expect_compound_columns_to_be_unique" in failing_expectations(outcome)


def test_prices_out_of_band(raw, quality_url):
    rows = data.price_rows()
    rows[10] = rows[10][:6] + (5000.5, 1)
    rows[11] = rows[11][:6] + (-300.0, 1)
    data.insert_prices(raw, rows)
    outcome = prices(quality_url)
    assert failing_expectations(outcome) == {"expect_column_pair_values_a_to_be_greater_than_b"}
    assert outcome.unexpected_count == 2


def test_prices_misaligned(raw, quality_url):
    rows = data.price_rows()
    utc, local = rows[3][3] + timedelta(minutes=7), rows[3][5] + timedelta(minutes=7)
    rows[3] = (*rows[3][:3], utc, 15, local, 30.0, 1)
    data.insert_prices(raw, rows)
    outcome = prices(quality_url)
    assert "expect_column_values_to_be_in_set" in failing_expectations(outcome)


def test_prices_latest_version_supersedes_a_bad_load(raw, quality_url):
    bad = data.price_rows(load_id=1)
    bad[0] = bad[0][:6] + (9999.0, 1)
    data.insert_prices(raw, bad + data.price_rows(load_id=2))
    assert prices(quality_url).passed


# --- telemetry ------------------------------------------------------------------------------------


def telemetry(quality_url):
    return run_check(quality_url, SPECS["device_telemetry_suite"], data.DAY)


def test_telemetry_clean(raw, quality_url):
    data.insert_devices(raw)
    data.insert_telemetry(raw, data.telemetry_rows())
    outcome = telemetry(quality_url)
    assert outcome.passed, outcome.failing


@pytest.mark.parametrize(
    ("column", "value", "expectation"),
    [
        (2, 3.5 * 1.25, "expect_column_pair_values_a_to_be_greater_than_b"),  # power over nameplate x 1.2
        (2, -0.1, "expect_column_values_to_be_between"),
        (3, 200.0 * 1.35, "expect_column_pair_values_a_to_be_greater_than_b"),  # hashrate over x 1.3
        (5, 180.0, "expect_column_values_to_be_between"),  # temperature
    ],
)
def test_telemetry_out_of_bounds(raw, quality_url, column, value, expectation):
    data.insert_devices(raw)
    rows = data.telemetry_rows()
    rows[7][column] = value
    data.insert_telemetry(raw, rows)
    outcome = telemetry(quality_url)
    assert failing_expectations(outcome) == {expectation}
    assert outcome.unexpected_count == 1
    assert outcome.sample[0]["device_id"] == "asic-001"


def test_telemetry_latest_version_supersedes_a_bad_load(raw, quality_url):
    data.insert_devices(raw)
    rows = data.telemetry_rows(load_id=1)
    rows[7][2] = 99.0  # a bad power reading, corrected by load 2 for the same device and time
    data.insert_telemetry(raw, rows)
    data.insert_telemetry(raw, [[*row[:6], 2] for row in data.telemetry_rows()[:12]])
    outcome = telemetry(quality_url)
    assert outcome.passed, outcome.failing


def test_telemetry_bad_reading_in_a_second_load_is_seen(raw, quality_url):
    data.insert_devices(raw)
    rows = data.telemetry_rows()
    late = rows.pop(30)  # arrives later, in its own load (late telemetry), with a bad temperature
    data.insert_telemetry(raw, rows)
    data.insert_telemetry(raw, [[*late[:5], 300.0, 2]])
    outcome = telemetry(quality_url)
    assert failing_expectations(outcome) == {"expect_column_values_to_be_between"}
    assert outcome.sample[0]["max_temperature_c"] == 300.0


def test_telemetry_unknown_device(raw, quality_url):
    data.insert_devices(raw)
    rows = data.telemetry_rows()
    rows[0][0] = "ghost-9"
    data.insert_telemetry(raw, rows)
    outcome = telemetry(quality_url)
    assert "expect_column_values_to_not_be_null" in failing_expectations(outcome)


def test_telemetry_coverage(raw, quality_url):
    data.insert_devices(raw)
    # asic-002 silent for 6 of its 24 hours: 6 of 72 device-hours (8%) miss the threshold
    rows = [r for r in data.telemetry_rows() if not (r[0] == "asic-002" and r[1].hour < 6)]
    data.insert_telemetry(raw, rows)
    outcome = telemetry(quality_url)
    assert not outcome.passed
    assert [f["kwargs"]["column"] for f in outcome.failing] == ["coverage"]
    assert {row["device_id"] for row in outcome.sample} == {"asic-002"}


def test_telemetry_coverage_judges_only_what_each_feed_has_delivered(raw, quality_url):
    """A day still arriving (the served platform loads each file as it lands): the miners' file is in
    up to 10:35 and the GPUs' file not yet. Hours a device's feed has not reached, and the hour it
    is still filling, are not missing data; a silent miner inside the delivered hours still is."""
    data.insert_devices(raw)
    cut = datetime.fromisoformat(f"{data.DAY}T10:40:00+00:00")
    rows = [r for r in data.telemetry_rows() if r[0] != "gpu-001" and r[1] < cut]
    data.insert_telemetry(raw, rows)
    outcome = telemetry(quality_url)
    assert outcome.passed, outcome.failing
    data.forget_readings(raw)
    # asic-002 silent from 02:00 to 05:00: 3 of the 20 delivered asic-hours (15 %) miss the threshold
    data.insert_telemetry(raw, [r for r in rows if not (r[0] == "asic-002" and 2 <= r[1].hour < 5)])
    outcome = telemetry(quality_url)
    assert [f["kwargs"]["column"] for f in outcome.failing] == ["coverage"]
    assert {(row["device_id"], row["hour"][11:13]) for row in outcome.sample} == {
        ("asic-002", "02"), ("asic-002", "03"), ("asic-002", "04"),
    }  # fmt: skip


# --- bitcoin --------------------------------------------------------------------------------------


def btc(quality_url):
    return run_check(quality_url, SPECS["btc_economics_suite"])


def test_btc_clean(raw, quality_url):
    data.insert_btc(raw, [90_000, 91_000, 89_500, 92_000], [1.2e14, 1.2e14, 1.25e14, 1.25e14])
    assert btc(quality_url).passed


def test_btc_non_positive_price(raw, quality_url):
    data.insert_btc(raw, [90_000, 0, 89_500], [1.2e14, 1.2e14, 1.25e14])
    outcome = btc(quality_url)
    assert any(f["kwargs"].get("column") == "btc_price_usd" for f in outcome.failing)


def test_btc_difficulty_jump(raw, quality_url):
    data.insert_btc(raw, [90_000, 91_000, 89_500], [1.2e14, 1.2e14, 1.8e14])
    outcome = btc(quality_url)
    assert [f["kwargs"]["column"] for f in outcome.failing] == ["difficulty_change"]


# --- workload events ------------------------------------------------------------------------------


def events(quality_url):
    return run_check(quality_url, SPECS["workload_events_suite"], data.DAY)


def test_events_clean(raw, quality_url):
    data.insert_customers(raw)
    data.insert_events(raw, data.CLEAN_EVENTS)
    assert events(quality_url).passed


def test_events_invalid_transition(raw, quality_url):
    data.insert_customers(raw)
    data.insert_events(raw, [*data.CLEAN_EVENTS, ("e8", "w1", "cust-1", "started", 55)])
    outcome = events(quality_url)
    assert failing_expectations(outcome) == {"expect_column_values_to_be_in_set"}
    assert outcome.sample[0]["event_id"] == "e8"


def test_events_unknown_customer(raw, quality_url):
    data.insert_customers(raw)
    data.insert_events(raw, [*data.CLEAN_EVENTS, ("e9", "w3", "cust-404", "submitted", 80)])
    outcome = events(quality_url)
    assert failing_expectations(outcome) == {"expect_column_values_to_not_be_null"}


# --- marts ----------------------------------------------------------------------------------------


@pytest.fixture()
def marts(raw):
    raw.execute("create schema if not exists billing")
    raw.execute("drop table if exists marts.fct_usage, marts.fct_facility_hourly")
    raw.execute("create table marts.fct_usage (usage_id text, gpu_seconds numeric, amount_usd numeric)")
    raw.execute(
        """create table marts.fct_facility_hourly (facility_id text, hour_start_at timestamptz,
               site_meter_mwh numeric, it_energy_mwh numeric, energy_mwh numeric, measured_pue numeric)"""
    )
    raw.execute(
        """create table if not exists billing.invoices (invoice_id bigserial, kind text default 'invoice',
               customer_id text, period text, period_start timestamptz, period_end timestamptz,
               timezone text, subtotal_usd numeric, tax_usd numeric, total_usd numeric)"""
    )
    raw.execute("delete from billing.invoices")
    raw.execute("insert into marts.fct_usage values ('u1', 36000, 25.5), ('u2', 0, 0)")
    add_invoice(raw, "c1", 100, 8, 108)
    raw.execute(
        """insert into marts.fct_facility_hourly values ('fac-1', now(), 1.2, 1.0, 1.2, 1.2),
               ('fac-1', now(), 1.23, 1.0, 1.2, 1.23)"""
    )
    return raw


def add_invoice(
    conn, customer: str, subtotal: float, tax: float, total: float, kind: str = "invoice"
) -> None:
    conn.execute(
        """insert into billing.invoices (kind, customer_id, period, period_start, period_end, timezone,
               subtotal_usd, tax_usd, total_usd)
           values (%s, %s, '2026-10', '2026-10-01', '2026-11-01', 'UTC', %s, %s, %s)""",
        (kind, customer, subtotal, tax, total),
    )


def test_marts_clean(marts, quality_url):
    add_invoice(marts, "c1", -50, -4, -54, kind="credit_note")  # credit notes are negative by design
    for name in ("usage_non_negative", "invoice_totals_non_negative", "energy_balance"):
        outcome = run_check(quality_url, SPECS[name])
        assert outcome.passed, (name, outcome.failing)


def test_marts_negative_usage_and_invoice(marts, quality_url):
    marts.execute("insert into marts.fct_usage values ('u3', -1, 5)")
    add_invoice(marts, "c2", -10, -0.8, -10.8)
    usage = run_check(quality_url, SPECS["usage_non_negative"])
    assert [f["kwargs"]["column"] for f in usage.failing] == ["gpu_seconds"]
    assert usage.sample[0]["usage_id"] == "u3"
    invoices = run_check(quality_url, SPECS["invoice_totals_non_negative"])
    assert {f["kwargs"]["column"] for f in invoices.failing} == {"subtotal_usd", "tax_usd", "total_usd"}


def test_marts_energy_balance(marts, quality_url):
    marts.execute(
        "insert into marts.fct_facility_hourly values ('fac-1', now(), 1.5, 1.0, 1.2, 1.5)"
    )  # 25% over
    outcome = run_check(quality_url, SPECS["energy_balance"])
    assert [f["kwargs"]["column"] for f in outcome.failing] == ["balance_error"]
