"""Loads into the real PostgreSQL: conservation, duplicates, versions, idempotency, unusable files."""

from __future__ import annotations

import shutil
from decimal import Decimal

import pandas as pd
import psycopg
import pytest

from ingestion.errors import IngestError
from ingestion.loader import ingest_file, ingest_folder, landing_files
from tests.ingestion.conftest import FIXTURES

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

DATA_TABLES = [
    "energy_prices", "price_nodes", "btc_economics", "facilities", "devices", "customers", "rate_cards",
    "workload_events", "device_telemetry", "site_meter", "demand_response_events", "quarantine",
]  # fmt: skip

FILES = [
    ("facilities", "facilities.csv"), ("devices", "devices.csv"), ("customers", "customers.csv"),
    ("rate-cards", "rate_cards.csv"), ("demand-response", "demand_response.csv"),
    ("ercot-dam", "ercot_dam_20260308.csv"), ("ercot-dam", "ercot_dam_20261101.csv"),
    ("ercot-rt", "ercot_rt_20261101_archive.csv"), ("ercot-rt", "ercot_rt_20260308.csv"),
    ("ercot-rt", "ercot_rt_bad.csv"), ("pjm-lmp", "pjm_rt_fivemin.csv"), ("caiso-lmp", "caiso_prc_intvl_lmp.csv"),
    ("prices", "prices.csv"), ("bitcoin", "btc_daily.csv"), ("telemetry", "telemetry.csv"), ("dcgm", "dcgm.prom"),
    ("miner", "miner.jsonl"), ("events", "events.jsonl"), ("site-meter", "site_meter.csv"),
]  # fmt: skip


def snapshot(conn: psycopg.Connection) -> dict[str, list]:
    """Every data table's rows without load ids (and without ciphertexts, which use fresh nonces)."""
    tables = {}
    for table in DATA_TABLES:
        columns = [
            name
            for (name,) in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' and table_name = %s"
                " and column_name not in ('load_id', 'quarantine_id', 'quarantined_at', 'pii_encrypted')"
                " order by ordinal_position",
                (table,),
            )
        ]
        query = f"select {', '.join(columns)} from raw.{table}"
        tables[table] = sorted(map(repr, conn.execute(query).fetchall()))
    return tables


def load_log(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select rows_in, loaded, quarantined, duplicates_skipped, status from raw.load_log order by load_id"
    ).fetchall()


def test_every_fixture_conserves_rows(raw):
    for kind, name in FILES:
        result = ingest_file(raw, kind, FIXTURES / name)
        assert result.rows_in == result.loaded + result.quarantined + result.duplicates_skipped, name
    for rows_in, loaded, quarantined, duplicates, status in load_log(raw):
        assert (rows_in, status) == (loaded + quarantined + duplicates, "succeeded")
    quarantined = raw.execute("select count(*) from raw.quarantine").fetchone()[0]
    assert quarantined == sum(row[2] for row in load_log(raw))


def test_bad_rows_and_duplicates_are_counted_exactly(reference):
    result = ingest_file(reference, "telemetry", FIXTURES / "telemetry.csv")
    # 12 rows: 5 good, 1 repeated within the file, 6 bad (short row, unknown device, negative
    # power, 500 C, year 2099, "zero" as power)
    assert (result.rows_in, result.loaded, result.quarantined, result.duplicates_skipped) == (12, 5, 6, 1)
    reasons = dict(
        reference.execute(
            "select line_no, field || ': ' || reason from raw.quarantine where load_id = %s",
            (result.load_id,),
        ).fetchall()
    )
    assert reasons[7].startswith("device_id: unknown")
    assert reasons[8].startswith("power_kw: outside")
    assert reasons[9].startswith("temperature_c: outside")
    assert reasons[10].startswith("ts: in the future")
    assert reasons[11] == "power_kw: not a valid real"
    assert 12 in reasons
    raw_record = reference.execute(
        "select raw_record from raw.quarantine where load_id = %s and line_no = 7", (result.load_id,)
    ).fetchone()[0]
    assert "asic-9999" in raw_record
    logged = reference.execute("select * from raw.load_log where load_id = %s", (result.load_id,)).fetchone()
    assert logged[6:10] == (12, 5, 6, 1)


def test_a_load_is_stamped_finished_after_its_rows_went_in(reference):
    # dbt's late-source watermark reads loads by finished_at, with a margin for the commit: a stamp
    # taken when the load's transaction began would make a long load look older than it is
    result = ingest_file(reference, "telemetry", FIXTURES / "telemetry.csv")
    started, finished = reference.execute(
        "select started_at, finished_at from raw.load_log where load_id = %s", (result.load_id,)
    ).fetchone()
    assert finished > started


def test_same_key_with_new_values_is_a_new_version(reference, tmp_path):
    first = ingest_file(reference, "telemetry", FIXTURES / "telemetry.csv")
    revised = tmp_path / "telemetry.csv"
    revised.write_text(
        "device_id,ts,power_kw,hashrate_ths,gpu_util_pct,temperature_c\n"
        "asic-0001,2026-01-15T00:00:00Z,3.41,198.5,,61.5\n"  # unchanged: duplicate
        "asic-0002,2026-01-15T00:00:00Z,3.30,185.0,,63\n"  # revised power: a new version
    )
    second = ingest_file(reference, "telemetry", revised)
    assert (second.loaded, second.duplicates_skipped) == (1, 1)
    versions = reference.execute(
        "select load_id, power_kw from raw.device_telemetry where device_id = 'asic-0002'"
        " and ts = '2026-01-15T00:00:00Z' order by load_id"
    ).fetchall()
    assert [v[0] for v in versions] == [first.load_id, second.load_id]


def test_reingesting_every_file_changes_no_data_table(raw):
    for kind, name in FILES:
        ingest_file(raw, kind, FIXTURES / name)
    before = snapshot(raw)
    for kind, name in FILES:
        result = ingest_file(raw, kind, FIXTURES / name)
        assert (result.loaded, result.quarantined) == (0, 0), name
        assert result.duplicates_skipped == result.rows_in, name
    assert snapshot(raw) == before


def test_price_nodes_are_registered_with_market_and_timezone(raw):
    ingest_file(raw, "ercot-rt", FIXTURES / "ercot_rt_20261101_archive.csv")
    ingest_file(raw, "pjm-lmp", FIXTURES / "pjm_rt_fivemin.csv")
    ingest_file(raw, "caiso-lmp", FIXTURES / "caiso_prc_intvl_lmp.csv")
    nodes = raw.execute(
        "select market, node_name, node_type, timezone from raw.price_nodes order by 1, 2"
    ).fetchall()
    assert nodes == [
        ("CAISO", "TH_NP15_GEN-APND", None, "America/Los_Angeles"),
        ("CAISO", "TH_SP15_GEN-APND", None, "America/Los_Angeles"),
        ("ERCOT", "HB_NORTH", "HU", "America/Chicago"),
        ("ERCOT", "LZ_WEST", "LZ", "America/Chicago"),
        ("PJM", "DOMINION", "ZONE", "America/New_York"),
        ("PJM", "WESTERN HUB", "HUB", "America/New_York"),
    ]
    per_node = raw.execute(
        "select node_name, count(*) from raw.energy_prices where market = 'ERCOT' group by 1 order by 1"
    ).fetchall()
    assert per_node == [("HB_NORTH", 16), ("LZ_WEST", 16)]


def test_fall_back_day_is_stored_as_25_distinct_utc_hours(raw):
    ingest_file(raw, "ercot-dam", FIXTURES / "ercot_dam_20261101.csv")
    hours, first, last = raw.execute(
        "select count(distinct interval_start_utc), min(interval_start_utc), max(interval_start_utc)"
        " from raw.energy_prices"
    ).fetchone()
    assert hours == 25 and (last - first).total_seconds() == 24 * 3600


def test_unknown_site_meter_facility_is_quarantined(reference):
    result = ingest_file(reference, "site-meter", FIXTURES / "site_meter.csv")
    assert (result.loaded, result.quarantined) == (2, 2)
    fields = reference.execute(
        "select field from raw.quarantine where load_id = %s order by line_no", (result.load_id,)
    )
    assert [f for (f,) in fields] == ["facility_id", "power_kw"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"device_id,ts,power_kw\n\xff\xfe,x,1\n", "not UTF-8"),
        (b"a,b,c\n1,2,3\n", "missing column"),
    ],
)
def test_unusable_file_raises_ingest_error_and_logs_a_failed_load(raw, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message) as err:
        ingest_file(raw, "telemetry", path)
    assert str(path) in str(err.value)
    assert load_log(raw) == [(0, 0, 0, 0, "failed")]
    assert raw.execute("select count(*) from raw.device_telemetry").fetchone()[0] == 0


def test_unknown_kind_and_missing_file(raw, tmp_path):
    with pytest.raises(IngestError, match="unknown kind"):
        ingest_file(raw, "weather", FIXTURES / "prices.csv")
    with pytest.raises(IngestError, match="no such file"):
        ingest_file(raw, "prices", tmp_path / "nope.csv")


def test_ingest_folder_loads_reference_first(raw, database_url, tmp_path):
    layout = {
        "reference/facilities.csv": "facilities.csv",
        "reference/devices.csv": "devices.csv",
        "reference/customers.csv": "customers.csv",
        "prices/ercot_dam/dam_spp_20261101.csv": "ercot_dam_20261101.csv",
        "telemetry/dcgm/2026-01-15.prom": "dcgm.prom",
        "telemetry/miner/2026-01-15.jsonl": "miner.jsonl",
        "workloads/events_2026-01-15.jsonl": "events.jsonl",
        "labels/faults.csv": "prices.csv",
    }
    for relative, name in layout.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / name, tmp_path / relative)
    kinds = [kind for kind, _ in landing_files(tmp_path)]
    assert kinds == ["facilities", "devices", "customers", "ercot-dam", "dcgm", "miner", "events"]
    results = ingest_folder(database_url, tmp_path)
    assert [r.kind for r in results] == kinds
    telemetry = raw.execute("select count(*) from raw.device_telemetry").fetchone()[0]
    assert telemetry == 5  # 3 DCGM rows of known GPUs + 2 miner polls


def test_parquet_telemetry(reference, tmp_path):
    frame = pd.read_csv(FIXTURES / "telemetry.csv").head(3)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame.rename(columns={"device_id": "Device ID"}).to_parquet(tmp_path / "t.parquet")
    result = ingest_file(reference, "telemetry", tmp_path / "t.parquet")
    assert (result.rows_in, result.loaded) == (3, 3)
    assert reference.execute("select sum(power_kw)::numeric(6, 2) from raw.device_telemetry").fetchone()[
        0
    ] == Decimal("7.40")
