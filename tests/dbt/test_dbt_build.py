"""`dbt build` on a simulated fleet: every model builds and every test passes."""

from __future__ import annotations

import json

from core.dbt import run_dbt


def _by_name(results: dict) -> dict[str, str]:
    return {r["unique_id"]: r["status"] for r in results["results"]}


def test_build_passes_every_model_and_test(marts_fleet):
    build = marts_fleet["build"]
    assert build.returncode == 0, build.stdout[-6000:]
    statuses = _by_name(marts_fleet["results"])
    failed = {uid: status for uid, status in statuses.items() if status not in ("success", "pass", "no-op")}
    assert not failed, failed
    kinds = {uid.split(".")[0] for uid in statuses}
    assert {"model", "test", "unit_test"} <= kinds


def test_build_includes_singular_unit_and_money_tests(marts_fleet):
    names = " ".join(_by_name(marts_fleet["results"]))
    for expected in (
        "assert_energy_balance_by_facility_day",
        "assert_usage_conserves_session_gpu_seconds",
        "assert_no_overlapping_sessions_per_device",
        "sessions_from_out_of_order_duplicated_events",
        "facility_hours_on_dst_fall_back_day",
        "facility_hours_on_dst_spring_forward_day",
        "sum_equals_fct_facility_hourly_total_revenue_usd",
        "non_negative_fct_usage_amount_usd",
    ):
        assert expected in names, expected


def test_marts_hold_data(marts_fleet, conn):
    for table in (
        "dim_facilities",
        "dim_devices",
        "dim_customers",
        "dim_price_nodes",
        "fct_device_hourly",
        "fct_facility_hourly",
        "fct_unit_economics_daily",
        "fct_usage",
        "fct_exec_kpis_daily",
    ):
        assert conn.execute(f"select count(*) from marts.{table}").fetchone()[0] > 0, table
    revenue = conn.execute(
        "select sum(mining_revenue_usd), sum(inference_revenue_usd), sum(energy_cost_usd) from marts.fct_exec_kpis_daily"
    ).fetchone()
    assert all(value > 0 for value in revenue)
    models = conn.execute(
        "select count(distinct device_kind) from marts.fct_unit_economics_daily where usd_earned_per_mwh > 0"
    ).fetchone()[0]
    assert models == 2  # ASIC and GPU models side by side


def test_usage_is_priced_and_rounded_up(marts_fleet, conn):
    rows = conn.execute(
        """select gpu_seconds, billable_gpu_seconds, min_increment_seconds, price_usd_per_gpu_hour, amount_usd
           from marts.fct_usage"""
    ).fetchall()
    assert rows
    for seconds, billable, increment, price, amount in rows:
        assert billable >= seconds
        assert billable % increment == 0 or billable - seconds < increment * 1000
        assert abs(amount - round(billable * price / 3600, 6)) < 1e-6


def test_docs_generate(marts_fleet):
    target = marts_fleet["target"]
    run_dbt(marts_fleet["url"], "docs", "generate", target_path=target)
    catalog = json.loads((target / "catalog.json").read_text())
    assert "model.hcp.fct_usage" in catalog["nodes"]
    manifest = json.loads((target / "manifest.json").read_text())
    exposures = {e["name"] for e in manifest["exposures"].values()}
    assert {"executive_dashboard", "operations_dashboard", "billing_page", "invoice_reports"} <= exposures
