"""The simulator's output against docs/landing-formats.md: layout, headers, counts, determinism."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingestion.simulator import simulate

from .helpers import dcgm_rows, miner_rows

END = datetime(2026, 11, 2)  # two days ending here cover the US fall-back on 2026-11-01
SMALL = {"facilities": 2, "devices": 40, "days": 2, "end": END, "customers": 4}
HEADERS = {
    "reference/facilities.csv": "facility_id,name,market,price_node,timezone,power_cap_kw,pue",
    "reference/devices.csv": "device_id,facility_id,kind,model,gpu_pool,nominal_power_kw,nominal_hashrate_ths,rack,rack_row,rack_slot",
    "reference/customers.csv": "customer_id,name,email,billing_address,tax_id,timezone,tax_rate,customer_type",
    "reference/rate_cards.csv": "rate_card_id,customer_id,gpu_model,workload_type,price_usd_per_gpu_hour,min_increment_seconds,effective_from",
    "reference/demand_response.csv": "event_id,facility_id,start_at,end_at,curtail_kw,credit_usd_per_mwh",
    "bitcoin/btc_daily.csv": "date,btc_price_usd,difficulty,block_subsidy_btc,fees_btc_per_block,hashrate_ths",
    "labels/faults.csv": "fault_id,device_id,fault_type,start_at,end_at,details",
    "prices/ercot_rt/rtm_spp_20261101.csv": "DeliveryDate,DeliveryHour,DeliveryInterval,SettlementPointName,SettlementPointType,SettlementPointPrice,DSTFlag",
    "prices/ercot_dam/dam_spp_20261101.csv": "DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice,DSTFlag",
    "prices/pjm/rt_lmps_20261101.csv": "datetime_beginning_utc,datetime_beginning_ept,pnode_id,pnode_name,voltage,equipment,type,zone,system_energy_price_rt,total_lmp_rt,congestion_price_rt,marginal_loss_price_rt,row_is_current,version_nbr",
    "site_meter/2026-11-01.csv": "facility_id,ts,power_kw",
}
FAULT_TYPES = {
    "overheating", "hashboard_failure", "stuck_sensor", "offline", "late_telemetry",
    "duplicated_telemetry", "price_spike",
}  # fmt: skip


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    simulate(out, seed=7, workers=1, **SMALL)
    return out


def test_same_seed_same_bytes_any_worker_count(landing: Path, tmp_path: Path) -> None:
    summary = simulate(tmp_path / "again", seed=7, workers=2, **SMALL)
    assert _digests(landing) == _digests(tmp_path / "again")
    assert summary.total_rows == sum(summary.rows.values()) > 0
    assert len(summary.paths) == sum(summary.files.values()) == len(_digests(landing))


def test_different_seed_different_bytes(landing: Path, tmp_path: Path) -> None:
    simulate(tmp_path / "other", seed=8, workers=1, **SMALL)
    a, b = _digests(landing), _digests(tmp_path / "other")
    assert a.keys() == b.keys()
    assert a["telemetry/miner/2026-11-01.jsonl"] != b["telemetry/miner/2026-11-01.jsonl"]
    assert a["prices/ercot_rt/rtm_spp_20261101.csv"] != b["prices/ercot_rt/rtm_spp_20261101.csv"]


def test_layout_follows_the_contract(landing: Path) -> None:
    files = set(_digests(landing))
    for day in ("2026-10-31", "2026-11-01"):
        assert f"telemetry/miner/{day}.jsonl" in files
        assert f"telemetry/dcgm/{day}.prom" in files
        assert f"site_meter/{day}.csv" in files
        assert f"workloads/events_{day}.jsonl" in files
    # Market files run by operating day (local time), so the first UTC day's evening is included.
    for day in ("20261030", "20261031", "20261101"):
        assert f"prices/ercot_rt/rtm_spp_{day}.csv" in files
        assert f"prices/ercot_dam/dam_spp_{day}.csv" in files
        assert f"prices/pjm/rt_lmps_{day}.csv" in files
    assert set(HEADERS) <= files


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_headers(landing: Path, name: str) -> None:
    assert (landing / name).read_text().splitlines()[0] == HEADERS[name]


def test_telemetry_rows_match_devices_times_intervals(landing: Path) -> None:
    devices = pd.read_csv(landing / "reference/devices.csv")
    faults = pd.read_csv(landing / "labels/faults.csv")
    intervals = 2 * 288
    length = (pd.to_datetime(faults["end_at"]) - pd.to_datetime(faults["start_at"])).dt.total_seconds() // 300
    offline = int(length[faults["fault_type"] == "offline"].sum())
    duplicated = int(length[faults["fault_type"] == "duplicated_telemetry"].sum())
    miner = pd.concat([miner_rows(p) for p in sorted((landing / "telemetry/miner").glob("*.jsonl"))])
    dcgm = pd.concat([dcgm_rows(p) for p in sorted((landing / "telemetry/dcgm").glob("*.prom"))])
    gpu_polls = dcgm[dcgm["metric"] == "DCGM_FI_DEV_GPU_UTIL"]
    assert len(miner) + len(gpu_polls) == len(devices) * intervals - offline + duplicated
    assert set(miner["device_id"]) | set(gpu_polls["device_id"]) == set(devices["device_id"])
    assert (miner["ts"] % 300 == 0).all() and (dcgm["ms"] % 300_000 == 0).all()
    # Every DCGM scrape reports the four metrics for the same GPUs.
    assert dcgm.groupby("metric").size().nunique() == 1


def test_late_rows_land_in_the_next_days_file(landing: Path) -> None:
    faults = pd.read_csv(landing / "labels/faults.csv")
    late = faults[faults["fault_type"] == "late_telemetry"]
    assert len(late) >= 1
    for _, f in late.iterrows():
        kind = "dcgm" if "-gpu" in f["device_id"] else "miner"
        nxt = landing / f"telemetry/{kind}/2026-11-01.{'prom' if kind == 'dcgm' else 'jsonl'}"
        rows = dcgm_rows(nxt) if kind == "dcgm" else miner_rows(nxt)
        mine = rows[rows["device_id"] == f["device_id"]]
        assert (mine["ts"] < pd.Timestamp("2026-11-01", tz="UTC").timestamp()).any()


def test_site_meter_is_device_draw_times_pue(landing: Path) -> None:
    devices = pd.read_csv(landing / "reference/devices.csv")
    facilities = pd.read_csv(landing / "reference/facilities.csv").set_index("facility_id")
    miner = pd.concat([miner_rows(p) for p in sorted((landing / "telemetry/miner").glob("*.jsonl"))])
    dcgm = pd.concat([dcgm_rows(p) for p in sorted((landing / "telemetry/dcgm").glob("*.prom"))])
    power = dcgm[dcgm["metric"] == "DCGM_FI_DEV_POWER_USAGE"].rename(columns={"value": "power_w"})
    draw = pd.concat([miner[["device_id", "ts", "power_w"]], power[["device_id", "ts", "power_w"]]])
    draw = draw.drop_duplicates(["device_id", "ts"]).merge(devices[["device_id", "facility_id"]])
    per_fac = draw.groupby(["facility_id", "ts"]).agg(kw=("power_w", "sum"), n=("device_id", "size"))
    per_fac["kw"] /= 1000
    full = per_fac[
        per_fac["n"]
        == devices.groupby("facility_id").size().reindex(per_fac.index.get_level_values(0)).to_numpy()
    ]
    meter = pd.concat([pd.read_csv(p) for p in sorted((landing / "site_meter").glob("*.csv"))])
    meter["ts"] = pd.to_datetime(meter["ts"]).astype("int64") // 10**9
    joined = full.reset_index().merge(meter, on=["facility_id", "ts"])
    assert len(joined) > 0.9 * len(meter)
    expected = joined["kw"] * facilities.loc[joined["facility_id"], "pue"].to_numpy()
    # Meter noise is 0.3% (sd); 2% plus a few watts of rounding is far outside it.
    assert (np.abs(joined["power_kw"] - expected) <= 0.02 * expected + 0.01).all()
    assert np.median(np.abs(joined["power_kw"] / expected - 1)[expected > 1]) < 0.005


def test_fault_labels_are_valid(landing: Path) -> None:
    faults = pd.read_csv(landing / "labels/faults.csv", keep_default_na=False)
    devices = set(pd.read_csv(landing / "reference/devices.csv")["device_id"])
    start, end = pd.to_datetime(faults["start_at"]), pd.to_datetime(faults["end_at"])
    assert (start < end).all()
    assert (start >= pd.Timestamp("2026-10-31", tz="UTC")).all()
    assert (end <= pd.Timestamp("2026-11-02", tz="UTC")).all()
    assert set(faults["fault_type"]) == FAULT_TYPES
    assert faults["fault_id"].is_unique
    market = faults["fault_type"] == "price_spike"
    assert (faults.loc[market, "device_id"] == "").all()
    assert set(faults.loc[~market, "device_id"]) <= devices
    assert faults["details"].str.contains("5000.00").any()


def test_ercot_hour_ending_and_fall_back_day(landing: Path) -> None:
    for path in sorted((landing / "prices/ercot_rt").glob("*.csv")):
        df = pd.read_csv(path)
        assert df["DeliveryHour"].between(1, 24).all() and df["DeliveryInterval"].between(1, 4).all()
        per_node = df.groupby("SettlementPointName").size()
        assert {"HB_WEST", "HB_NORTH", "HB_HOUSTON", "HB_SOUTH", "LZ_WEST"} <= set(per_node.index)
        repeated = df[df["DSTFlag"] == "Y"]
        if path.name == "rtm_spp_20261101.csv":
            assert (per_node == 100).all()  # 25 hours of four intervals
            assert set(repeated["DeliveryHour"]) == {2} and len(repeated) == 4 * len(per_node)
        else:
            assert (per_node == 96).all() and repeated.empty
    dam = pd.read_csv(landing / "prices/ercot_dam/dam_spp_20261101.csv")
    west = dam[dam["SettlementPoint"] == "HB_WEST"]
    assert len(west) == 25 and list(west["HourEnding"]).count("02:00") == 2
    assert west["HourEnding"].iloc[-1] == "24:00"
    assert list(west.loc[west["DSTFlag"] == "Y", "HourEnding"]) == ["02:00"]


def test_pjm_times_and_spacing(landing: Path) -> None:
    df = pd.read_csv(landing / "prices/pjm/rt_lmps_20261101.csv")
    west = df[df["pnode_name"] == "WESTERN HUB"]
    utc = pd.to_datetime(west["datetime_beginning_utc"], format="%m/%d/%Y %I:%M:%S %p")
    assert len(west) == 25 * 12 and utc.diff().dropna().eq(pd.Timedelta(minutes=5)).all()
    parts = west["system_energy_price_rt"] + west["congestion_price_rt"] + west["marginal_loss_price_rt"]
    assert np.allclose(parts, west["total_lmp_rt"], atol=0.011)


def test_workload_events(landing: Path) -> None:
    devices = pd.read_csv(landing / "reference/devices.csv", keep_default_na=False).set_index("device_id")
    lines = [
        json.loads(x)
        for p in sorted((landing / "workloads").glob("*.jsonl"))
        for x in p.read_text().splitlines()
    ]
    events = pd.DataFrame(lines)
    assert (
        events["event_type"]
        .isin(["submitted", "started", "paused", "resumed", "completed", "cancelled", "failed"])
        .all()
    )
    assert events["event_id"].duplicated().any()  # redelivered
    assert not events["event_at"].is_monotonic_increasing  # some out of order
    for e in lines:
        if e["event_type"] in ("started", "resumed"):
            assert len(e["device_ids"]) == e["gpus_requested"]
            assert set(devices.loc[e["device_ids"], "gpu_pool"]) == {e["gpu_pool"]}
        else:
            assert e["device_ids"] == []


def test_reference_records(landing: Path) -> None:
    with open(landing / "reference/rate_cards.csv", newline="") as fh:
        cards = list(csv.DictReader(fh))
    assert {c["min_increment_seconds"] for c in cards} >= {"1", "60"}
    assert any(c["customer_id"] for c in cards) and any(not c["customer_id"] for c in cards)
    assert len({c["effective_from"] for c in cards if not c["customer_id"]}) == 2  # one mid-period change
    customers = pd.read_csv(landing / "reference/customers.csv")
    assert (customers["customer_type"] == "colocation").sum() in (1, 2)
    assert set(customers["customer_type"]) == {"inference", "colocation"}
    devices = pd.read_csv(landing / "reference/devices.csv")
    assert pd.api.types.is_integer_dtype(devices["rack_row"]) and pd.api.types.is_integer_dtype(
        devices["rack_slot"]
    )


def _samples(path: Path) -> list[str]:
    """A file's data lines (DCGM's HELP/TYPE comments repeat per scrape block), sorted."""
    return sorted(line for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_hourly_telemetry_holds_the_rows_of_the_daily_files(landing: Path, tmp_path: Path) -> None:
    # a fleet too big for a day of text in memory is written an hour at a time; a row that arrives
    # a day late, or twice, is still in the same day's files
    kinds = set(pd.read_csv(landing / "labels/faults.csv")["fault_type"])
    assert {"late_telemetry", "duplicated_telemetry"} <= kinds
    summary = simulate(tmp_path / "hourly", seed=7, workers=2, telemetry_hours=48, **SMALL)
    telemetry = tmp_path / "hourly/telemetry"
    for kind, suffix in (("miner", "jsonl"), ("dcgm", "prom")):
        for day in ("2026-10-31", "2026-11-01"):
            hours = sorted(telemetry.glob(f"{kind}/{day}T*.{suffix}"))
            assert len(hours) == 24
            assert sorted(sum((_samples(p) for p in hours), [])) == _samples(
                landing / f"telemetry/{kind}/{day}.{suffix}"
            )
        assert not list(telemetry.glob(f"{kind}/*-??.{suffix}"))  # no daily file
    assert summary.rows["miner"] == sum(len(_samples(p)) for p in (landing / "telemetry/miner").glob("*"))
    # the other files are the same bytes
    others = {k: v for k, v in _digests(landing).items() if not k.startswith("telemetry/")}
    assert others == {
        k: v for k, v in _digests(tmp_path / "hourly").items() if not k.startswith("telemetry/")
    }


def test_hourly_telemetry_of_the_last_hours_only(tmp_path: Path) -> None:
    simulate(tmp_path / "out", seed=7, workers=1, telemetry_hours=3, **SMALL)
    names = sorted(p.name for p in (tmp_path / "out/telemetry").rglob("*.*"))
    assert names == sorted(f"2026-11-01T{h}.{s}" for s in ("jsonl", "prom") for h in (21, 22, 23))
    with pytest.raises(ValueError, match="telemetry_hours"):
        simulate(tmp_path / "none", seed=7, workers=1, telemetry_hours=0, **SMALL)
