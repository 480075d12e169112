"""The raw tables the loader writes: columns, their storage types, and the column that bounds a
file's rows in time (to look up already-loaded rows for duplicate detection)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # text, real, numeric:<scale>, int, timestamptz, timestamp, text[]
    required: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    time_column: str | None = None  # None: small reference table, compared whole
    # Natural key of a high-volume table whose unique index (key + row_hash) dedups in the database
    # and which is partitioned by day on time_column (the bulk path, ingestion.bulk); None: the
    # loader compares row hashes in Python (small tables; customers need their PII decrypted).
    unique_key: tuple[str, ...] | None = None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _t(
    name: str, time_column: str | None, *columns: tuple, unique_key: tuple[str, ...] | None = None
) -> Table:
    return Table(name, tuple(Column(*c) for c in columns), time_column, unique_key)


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        _t(
            "energy_prices", "interval_start_utc",
            ("market", "text"), ("node_name", "text"), ("price_kind", "text"),
            ("interval_start_utc", "timestamptz"), ("interval_minutes", "int"),
            ("interval_start_local", "timestamp"), ("price_usd_per_mwh", "numeric:4"),
        ),
        _t(
            "btc_economics", "observed_at",
            ("observed_at", "timestamptz"), ("btc_price_usd", "numeric:4"), ("difficulty", "numeric:4"),
            ("hashrate_ths", "numeric:4", False), ("block_subsidy_btc", "numeric:8"),
            ("fees_btc_per_block", "numeric:8"),
        ),
        _t(
            "facilities", None,
            ("facility_id", "text"), ("name", "text"), ("market", "text"), ("price_node", "text"),
            ("timezone", "text"), ("power_cap_kw", "numeric:3"), ("pue", "numeric:4"),
        ),
        _t(
            "devices", None,
            ("device_id", "text"), ("facility_id", "text"), ("kind", "text"), ("model", "text"),
            ("gpu_pool", "text", False), ("nominal_power_kw", "numeric:4"),
            ("nominal_hashrate_ths", "numeric:3", False), ("rack", "text", False),
            ("rack_row", "int", False), ("rack_slot", "int", False),
        ),
        # PII columns exist only in the file; the loader encrypts them into pii_encrypted.
        _t(
            "customers", None,
            ("customer_id", "text"), ("name", "text"), ("email", "text"),
            ("billing_address", "text", False), ("tax_id", "text", False),
            ("timezone", "text"), ("tax_rate", "numeric:5"), ("customer_type", "text"),
        ),
        _t(
            "rate_cards", None,
            ("rate_card_id", "text"), ("customer_id", "text", False), ("gpu_model", "text"),
            ("workload_type", "text"), ("price_usd_per_gpu_hour", "numeric:6"),
            ("min_increment_seconds", "int"), ("effective_from", "timestamptz"),
        ),
        _t(
            "workload_events", "event_at",
            ("event_id", "text"), ("workload_id", "text"), ("customer_id", "text"), ("event_type", "text"),
            ("event_at", "timestamptz"), ("workload_type", "text", False), ("gpu_pool", "text", False),
            ("gpus_requested", "int", False), ("device_ids", "text[]", False),
        ),
        _t(
            "device_telemetry", "ts",
            ("device_id", "text"), ("ts", "timestamptz"), ("power_kw", "real", False),
            ("hashrate_ths", "real", False), ("gpu_util_pct", "real", False), ("temperature_c", "real", False),
            unique_key=("ts", "device_id"),
        ),
        _t(
            "fleet_status", "ts",
            ("device_id", "text"), ("ts", "timestamptz"), ("source", "text"), ("address", "text", False),
            ("state", "text"), ("power_kw", "real", False), ("fans_rpm", "text[]", False),
            ("errors", "text[]", False), ("pool", "text", False), ("detail", "text", False),
            ("controls", "text[]", False), ("power_target_kw", "real", False),
            unique_key=("ts", "device_id"),
        ),
        _t("site_meter", "ts", ("facility_id", "text"), ("ts", "timestamptz"), ("power_kw", "numeric:3")),
        _t(
            "demand_response_events", None,
            ("event_id", "text"), ("facility_id", "text"), ("start_at", "timestamptz"),
            ("end_at", "timestamptz"), ("curtail_kw", "numeric:3"), ("credit_usd_per_mwh", "numeric:4"),
        ),
    ]
}  # fmt: skip

PII_FIELDS = ("name", "email", "billing_address", "tax_id")
