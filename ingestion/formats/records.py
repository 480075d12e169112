"""The platform's own CSV records and small sources: facilities, devices, customers, rate cards,
demand response, site meter and Bitcoin economics. Values stay strings; validation types them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingestion.formats.base import Parsed, read_csv_rows


def _plain(*names: str) -> dict[str, tuple[str, ...]]:
    return {name: () for name in names}


def read_facilities(path: str | Path) -> Parsed:
    """``facility_id,name,market,price_node,timezone,power_cap_kw,pue``."""
    parsed = read_csv_rows(
        path, _plain("facility_id", "name", "market", "price_node", "timezone", "power_cap_kw", "pue")
    )
    parsed.frame["market"] = parsed.frame["market"].str.upper()
    return parsed


def read_devices(path: str | Path) -> Parsed:
    """``device_id,facility_id,kind,model,gpu_pool,nominal_power_kw,nominal_hashrate_ths,rack,rack_row,rack_slot``."""
    columns = _plain(
        "device_id", "facility_id", "kind", "model", "gpu_pool", "nominal_power_kw",
        "nominal_hashrate_ths", "rack", "rack_row", "rack_slot",
    )  # fmt: skip
    parsed = read_csv_rows(
        path, columns, optional={"gpu_pool", "nominal_hashrate_ths", "rack", "rack_row", "rack_slot"}
    )
    parsed.frame["kind"] = parsed.frame["kind"].str.lower()
    return parsed


def read_customers(path: str | Path) -> Parsed:
    """``customer_id,name,email,billing_address,tax_id,timezone,tax_rate,customer_type`` (PII in clear)."""
    columns = _plain(
        "customer_id", "name", "email", "billing_address", "tax_id", "timezone", "tax_rate", "customer_type"
    )
    parsed = read_csv_rows(path, columns, optional={"customer_type"})
    parsed.frame["customer_type"] = parsed.frame["customer_type"].str.lower().replace("", "inference")
    return parsed


def read_rate_cards(path: str | Path) -> Parsed:
    """``rate_card_id,customer_id,gpu_model,workload_type,price_usd_per_gpu_hour,min_increment_seconds,effective_from``."""
    columns = _plain(
        "rate_card_id", "customer_id", "gpu_model", "workload_type", "price_usd_per_gpu_hour",
        "min_increment_seconds", "effective_from",
    )  # fmt: skip
    parsed = read_csv_rows(path, columns, optional={"min_increment_seconds"})
    parsed.frame["min_increment_seconds"] = parsed.frame["min_increment_seconds"].replace("", "1")
    return parsed


def read_demand_response(path: str | Path) -> Parsed:
    """``event_id,facility_id,start_at,end_at,curtail_kw,credit_usd_per_mwh``."""
    return read_csv_rows(
        path, _plain("event_id", "facility_id", "start_at", "end_at", "curtail_kw", "credit_usd_per_mwh")
    )


def read_site_meter(path: str | Path) -> Parsed:
    """``facility_id,ts,power_kw`` (5-minute facility power at the utility meter)."""
    return read_csv_rows(path, _plain("facility_id", "ts", "power_kw"))


def read_bitcoin(path: str | Path) -> Parsed:
    """``date,btc_price_usd,difficulty,block_subsidy_btc,fees_btc_per_block[,hashrate_ths]``; a bare
    date is that day's midnight UTC."""
    columns = {
        "observed_at": ("date", "timestamp", "ts"),
        **_plain("btc_price_usd", "difficulty", "block_subsidy_btc", "fees_btc_per_block", "hashrate_ths"),
    }
    parsed = read_csv_rows(path, columns, optional={"hashrate_ths"})
    parsed.frame["observed_at"] = pd.to_datetime(
        parsed.frame["observed_at"], utc=True, format="ISO8601", errors="coerce"
    )
    return parsed
