"""Readers on small files in each real format: times, DST days, header spellings, unusable files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ingestion.errors import IngestError
from ingestion.formats import READERS
from ingestion.kinds import NotIngested, detect_kind

FIXTURES = Path(__file__).parent / "fixtures"


def read(kind: str, name: str):
    return READERS[kind](FIXTURES / name)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_ercot_dam_spring_forward_day_has_23_contiguous_hours():
    parsed = read("ercot-dam", "ercot_dam_20260308.csv")
    starts = parsed.frame["interval_start_utc"]
    assert len(starts) == 23 and starts.is_unique and parsed.rejects.empty
    assert starts.min() == utc("2026-03-08 06:00")  # HE 01 starts at 00:00 CST
    assert starts.max() == utc("2026-03-09 04:00")  # HE 24 starts at 23:00 CDT
    assert (starts.diff().dropna() == pd.Timedelta(hours=1)).all()
    he4 = parsed.frame[parsed.frame["price_usd_per_mwh"] == "24.00"]
    assert he4["interval_start_local"].iloc[0] == pd.Timestamp("2026-03-08 03:00")


def test_ercot_dam_fall_back_day_has_25_hours_with_the_repeated_hour():
    frame = read("ercot-dam", "ercot_dam_20261101.csv").frame
    starts = frame["interval_start_utc"]
    assert len(starts) == 25 and starts.is_unique
    assert (starts.diff().dropna() == pd.Timedelta(hours=1)).all()
    first, repeated = frame[frame["price_usd_per_mwh"].isin(["22.00", "22.50"])]["interval_start_utc"]
    assert (first, repeated) == (utc("2026-11-01 06:00"), utc("2026-11-01 07:00"))  # 01:00 CDT, 01:00 CST
    local = frame["interval_start_local"]
    assert (local == pd.Timestamp("2026-11-01 01:00")).sum() == 2  # wall clock shows the hour twice


def test_ercot_rt_archive_spelling_and_repeated_hour_flag():
    parsed = read("ercot-rt", "ercot_rt_20261101_archive.csv")
    frame = parsed.frame
    assert len(frame) == 32 and parsed.rejects.empty
    assert set(frame["node_name"]) == {"HB_NORTH", "LZ_WEST"}
    north = frame[frame["node_name"] == "HB_NORTH"].sort_values("interval_start_utc")
    assert north["interval_start_utc"].is_unique
    assert (north["interval_start_utc"].diff().dropna() == pd.Timedelta(minutes=15)).all()
    assert north["interval_start_utc"].iloc[0] == utc("2026-11-01 05:00")
    assert north["interval_start_utc"].iloc[-1] == utc("2026-11-01 08:45")
    assert set(frame["interval_minutes"]) == {15} and set(frame["price_kind"]) == {"rt"}


def test_ercot_rt_spring_forward_missing_hour_is_rejected():
    parsed = read("ercot-rt", "ercot_rt_20260308.csv")
    assert len(parsed.frame) == 8
    assert parsed.rejects[["_line", "field"]].values.tolist() == [[6, "DeliveryHour"]]
    assert "does not exist" in parsed.rejects["reason"].iloc[0]
    he4 = parsed.frame[parsed.frame["price_usd_per_mwh"] == "22.10"]["interval_start_utc"].iloc[0]
    assert he4 == utc("2026-03-08 08:00")  # 03:00 CDT follows 01:45 CST by 15 minutes of real time


def test_ercot_malformed_rows_are_rejected_with_line_and_field():
    parsed = read("ercot-rt", "ercot_rt_bad.csv")
    rejects = dict(zip(parsed.rejects["_line"], parsed.rejects["field"], strict=True))
    assert rejects == {5: None, 9: "DeliveryDate", 4: "DeliveryHour"}
    assert parsed.rejects.set_index("_line").loc[9, "raw"].startswith("{")
    assert len(parsed.frame) == 6  # the bad price is for validation, duplicates for the loader


def test_pjm_interval_from_spacing_and_superseded_rows():
    parsed = read("pjm-lmp", "pjm_rt_fivemin.csv")
    frame = parsed.frame
    assert set(frame["interval_minutes"]) == {5}
    assert frame["interval_start_utc"].min() == utc("2026-01-15 05:00")
    assert frame["interval_start_local"].min() == pd.Timestamp("2026-01-15 00:00")
    assert parsed.rejects["field"].tolist() == ["row_is_current"]
    assert set(frame["node_name"]) == {"WESTERN HUB", "DOMINION"}


def test_pjm_file_of_one_interval_is_not_taken_for_hourly(tmp_path: Path):
    lines = (FIXTURES / "pjm_rt_fivemin.csv").read_text().splitlines()
    header, first, second = lines[0], lines[1], lines[2]  # 00:00 and 00:05 EPT at WESTERN HUB
    cases = {"rt_fivemin_hrl_lmps.csv": first, "rt_lmps.csv": second}  # five-minute by name, by minute
    for name, row in cases.items():
        (tmp_path / name).write_text(f"{header}\n{row}\n")
        assert READERS["pjm-lmp"](tmp_path / name).frame["interval_minutes"].tolist() == [5], name
    (tmp_path / "rt_hrl_lmps.csv").write_text(f"{header}\n{first}\n")
    assert READERS["pjm-lmp"](tmp_path / "rt_hrl_lmps.csv").frame["interval_minutes"].tolist() == [60]


def test_caiso_keeps_lmp_rows_only():
    frame = read("caiso-lmp", "caiso_prc_intvl_lmp.csv").frame
    assert len(frame) == 3 and set(frame["interval_minutes"]) == {15}
    assert frame["interval_start_local"].iloc[0] == pd.Timestamp("2026-01-15 00:00")  # PST


def test_dcgm_pivots_samples_to_device_rows():
    parsed = read("dcgm", "dcgm.prom")
    frame = parsed.frame.set_index(["device_id", "ts"])
    row = frame.loc[("gpun-001-gpu0", utc("2026-01-15 00:00"))]
    assert (
        row["power_kw"] == pytest.approx(0.6125) and row["gpu_util_pct"] == 87 and row["temperature_c"] == 71
    )
    assert len(frame) == 4  # the SM clock metric is not telemetry the platform keeps
    assert parsed.rejects["_line"].tolist() == [16]


def test_miner_json_units_and_temperatures():
    parsed = read("miner", "miner.jsonl")
    frame = parsed.frame.set_index("device_id")
    assert frame.loc["asic-0001", "hashrate_ths"] == pytest.approx(198.5)  # GHS 5s
    assert frame.loc["asic-0001", "power_kw"] == pytest.approx(3.41)  # chain_power "3410 W"
    assert frame.loc["asic-0001", "temperature_c"] == 68  # highest chip temperature
    assert frame.loc["asic-0002", "hashrate_ths"] == pytest.approx(185.0)  # MHS 5s
    assert frame.loc["asic-0002", "power_kw"] == pytest.approx(3.38)  # Whatsminer Power
    assert parsed.rejects["_line"].tolist() == [3, 4]


def test_header_names_match_case_and_space_insensitively(tmp_path):
    path = tmp_path / "sm.csv"
    path.write_text(" Facility ID ,TS,Power_KW\nfac-1,2026-01-15T00:00:00Z,10\n")
    frame = READERS["site-meter"](path).frame
    assert frame[["facility_id", "power_kw"]].values.tolist() == [["fac-1", "10"]]


@pytest.mark.parametrize("kind", ["telemetry", "ercot-rt", "customers", "events", "dcgm", "miner"])
def test_empty_file_is_one_clear_error(tmp_path, kind):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(IngestError, match="empty file"):
        READERS[kind](path)


@pytest.mark.parametrize("kind", ["telemetry", "ercot-dam", "facilities"])
def test_wrong_encoding_names_the_line(tmp_path, kind):
    path = tmp_path / "latin1.csv"
    header = {"telemetry": "device_id,ts,power_kw", "ercot-dam": "DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice",
              "facilities": "facility_id,name,market,price_node,timezone,power_cap_kw,pue"}[kind]  # fmt: skip
    path.write_bytes((header + "\n").encode() + "x,Zürich,1\n".encode("latin-1"))
    with pytest.raises(IngestError, match="not UTF-8") as err:
        READERS[kind](path)
    assert err.value.line == 2


def test_wrong_header_names_the_missing_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("device,time,watts\na,b,c\n")
    with pytest.raises(IngestError, match="missing column 'device_id'") as err:
        READERS["telemetry"](path)
    assert err.value.line == 1 and str(path) in str(err.value)


@pytest.mark.parametrize(
    ("relative", "kind"),
    [
        ("reference/facilities.csv", "facilities"),
        ("reference/rate_cards.csv", "rate-cards"),
        ("reference/demand_response.csv", "demand-response"),
        ("prices/ercot_rt/rtm_spp_20260115.csv", "ercot-rt"),
        ("prices/ercot_dam/dam_spp_20260115.csv", "ercot-dam"),
        ("prices/pjm/rt_lmps_20260115.csv", "pjm-lmp"),
        ("bitcoin/btc_daily.csv", "bitcoin"),
        ("telemetry/miner/2026-01-15.jsonl", "miner"),
        ("telemetry/dcgm/2026-01-15.prom", "dcgm"),
        ("site_meter/2026-01-15.csv", "site-meter"),
        ("workloads/events_2026-01-15.jsonl", "events"),
    ],
)
def test_detect_kind_by_layout(relative, kind):
    assert detect_kind(Path("/landing") / relative) == kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [("telemetry.csv", "telemetry"), ("caiso_prc_intvl_lmp.csv", "caiso-lmp"), ("ercot_rt_20261101_archive.csv", "ercot-rt"),
     ("customers.csv", "customers"), ("events.jsonl", "events"), ("miner.jsonl", "miner"), ("prices.csv", "prices")],
)  # fmt: skip
def test_detect_kind_by_header(name, kind):
    assert detect_kind(FIXTURES / name) == kind


def test_labels_are_not_ingested():
    with pytest.raises(NotIngested):
        detect_kind(Path("/landing/labels/faults.csv"))
