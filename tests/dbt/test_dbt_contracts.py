"""Marts have enforced contracts, a description on every column, money NUMERIC and times timestamptz."""

from __future__ import annotations

import json


def _mart_models(target) -> list[dict]:
    manifest = json.loads((target / "manifest.json").read_text())
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["fqn"][1] == "marts"]


def test_every_mart_has_an_enforced_contract_and_documented_columns(marts_fleet):
    models = _mart_models(marts_fleet["target"])
    assert {m["name"] for m in models} >= {
        "dim_facilities",
        "dim_devices",
        "dim_customers",
        "dim_price_nodes",
        "fct_device_hourly",
        "fct_facility_hourly",
        "fct_unit_economics_daily",
        "fct_usage",
        "fct_exec_kpis_daily",
    }
    for model in models:
        assert model["config"]["contract"]["enforced"], model["name"]
        assert model["schema"] == "marts"
        assert model["description"], model["name"]
        for column in model["columns"].values():
            assert column["data_type"], (model["name"], column["name"])
            assert column["description"], (model["name"], column["name"])


def test_money_is_numeric_and_times_are_timestamptz(marts_fleet, conn):
    rows = conn.execute(
        "select table_name, column_name, data_type from information_schema.columns where table_schema = 'marts'"
    ).fetchall()
    assert rows
    for table, column, data_type in rows:
        if column.endswith("_usd") or "_usd_per_" in column:
            assert data_type == "numeric", (table, column, data_type)
        if column.endswith("_at"):
            assert data_type == "timestamp with time zone", (table, column, data_type)


def test_no_pii_in_marts(marts_fleet, conn):
    columns = {
        row[0]
        for row in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'marts'"
        )
    }
    assert not columns & {"name", "email", "billing_address", "tax_id", "pii_encrypted", "pii_key_id"}
