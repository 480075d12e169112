"""The default fleet's shape, checked on the cheap path (no telemetry generated)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from ingestion.simulator.clock import make_clock
from ingestion.simulator.faults import fault_count, plan_device_faults
from ingestion.simulator.fleet import fleet_composition, make_fleet
from ingestion.simulator.prices import BITCOIN_HISTORY_DAYS, make_bitcoin, make_prices


def test_default_fleet_composition() -> None:
    fleet = make_fleet(3, 1000, np.random.default_rng(0))
    fac, dev = fleet.facilities, fleet.devices
    assert list(fac["market"]) == ["ERCOT", "ERCOT", "PJM"]
    assert list(fac["price_node"]) == ["HB_WEST", "HB_NORTH", "WESTERN HUB"]
    assert fac["pue"].between(1.05, 1.35).all()
    assert len(dev) == 1000 and dev["device_id"].is_unique
    asic_share = (dev["kind"] == "asic").mean()
    assert 0.85 <= asic_share <= 0.90
    assert dev.loc[dev["kind"] == "asic", "model"].nunique() == 3
    gpus = dev[dev["kind"] == "gpu"]
    assert gpus["model"].nunique() == 2 and set(gpus["gpu_pool"]) == {"h100", "l40s"}
    assert (gpus["device_id"] == gpus["hostname"] + "-gpu" + gpus["gpu"].astype(str)).all()
    assert (gpus.groupby("hostname").size() == 8).all()
    assert not dev.duplicated(["facility_id", "rack", "rack_slot"]).any()
    assert fleet_composition(1000) == (880, 120)


def test_default_fault_count_and_spikes() -> None:
    assert 20 <= fault_count(1000, 7) <= 40
    clock = make_clock(datetime(2026, 11, 2), 7, 5)
    fleet = make_fleet(3, 1000, np.random.default_rng(0))
    faults = plan_device_faults(clock, fleet.is_gpu, np.random.default_rng(1))
    assert len({f.device for f in faults}) == len(faults)
    assert len({int(clock.day_of(f.t0)) for f in faults}) >= 4  # spread over the days
    prices = make_prices(clock, np.random.default_rng(2))
    peaks = [s.peak_usd_per_mwh for s in prices.spikes]
    assert peaks.count(5000.0) == 1 and min(peaks) < 0
    assert 20 <= len(faults) + len(peaks) <= 40


def test_hashprice_is_realistic() -> None:
    btc = make_bitcoin(make_clock(datetime(2026, 11, 2), 7, 5), np.random.default_rng(0))
    assert (btc.table["block_subsidy_btc"] == 3.125).all()
    # the period's 7 days come after BITCOIN_HISTORY_DAYS of daily history, without gaps
    dates = pd.to_datetime(btc.table["date"])
    assert len(dates) == BITCOIN_HISTORY_DAYS + 7 == len(btc.hashprice_usd_per_th_day) + BITCOIN_HISTORY_DAYS
    assert (dates.diff().dropna() == pd.Timedelta("1D")).all()
    assert dates.iloc[-1] == pd.Timestamp("2026-11-01")
    assert ((btc.hashprice_usd_per_th_day > 0.02) & (btc.hashprice_usd_per_th_day < 0.08)).all()
