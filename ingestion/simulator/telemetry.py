"""Per-device, per-interval readings: power, hashrate, GPU utilisation, temperature, with faults applied."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ingestion.simulator.clock import Clock, iso_z
from ingestion.simulator.demand import PEAK_LOCAL_HOUR, customer_clock
from ingestion.simulator.faults import Fault
from ingestion.simulator.fleet import Fleet
from ingestion.simulator.prices import PriceBook
from ingestion.simulator.spec import GPU_MODELS
from kernels.hashprice import per_th_hour

CAP_QUANTILE = 0.95  # the cap sits below the busiest 5% of intervals, so it binds sometimes


@dataclass
class Readings:
    power_kw: np.ndarray  # float64[D, T] true draw (also during offline windows)
    hashrate_ths: np.ndarray  # float64[D, T], 0 for GPUs and curtailed ASICs
    gpu_util: np.ndarray  # float64[D, T], 0 for ASICs
    temperature_c: np.ndarray  # float64[D, T]
    running: np.ndarray  # bool[D, T] ASIC mining / GPU powered
    present: np.ndarray  # bool[D, T] a reading is written to the day's own file
    late: list[tuple[int, int, int]]  # (day index of the file, t, device) rows written a day late
    duplicated: list[tuple[int, int, int]]  # (day index, t, device) rows written a second time
    cap_kw: np.ndarray  # float64[F] facility power cap (PUE included)
    meter_kw: np.ndarray  # float64[F, T] site meter
    demand_response: pd.DataFrame


def _ambient(clock: Clock, fleet: Fleet) -> np.ndarray:
    """Outside temperature per facility and interval: warmest mid-afternoon local time."""
    hours_utc = (clock.epochs % 86400) / 3600
    offset = np.where(fleet.facilities["market"].to_numpy() == "PJM", -5.0, -6.0)
    local = hours_utc[None, :] + offset[:, None]
    base = fleet.facilities["ambient_c"].to_numpy()[:, None]
    return base + 5 * np.sin(2 * np.pi * (local - 9) / 24)


def _gpu_readings(clock, fleet, busy_type, amb, rng, util, power, temp) -> None:
    dev = fleet.devices
    g = np.flatnonzero(fleet.is_gpu)
    if len(g) == 0:
        return
    # Inference load follows the customers' (US) day, peaking mid-afternoon; batch runs flat out.
    hours, _ = customer_clock(clock.epochs)
    diurnal = 0.5 + 0.5 * np.cos(2 * np.pi * (hours - PEAK_LOCAL_HOUR) / 24)
    bt = busy_type[g]
    u = np.where(bt == 1, 55 + 38 * diurnal[None, :] + rng.normal(0, 4, bt.shape), 0.0)
    u = np.where(bt == 2, 97 + rng.normal(0, 1.5, bt.shape), u)
    u = np.where(bt == 0, rng.integers(0, 3, bt.shape), u)
    u = np.clip(np.round(u), 0, 100)
    tdp = np.array([GPU_MODELS[m].power_w for m in dev["model_idx"].to_numpy()[g]])[:, None]
    idle = np.array([GPU_MODELS[m].idle_w for m in dev["model_idx"].to_numpy()[g]])[:, None]
    watts = (idle + (tdp - idle) * (u / 100) ** 0.9) * (1 + rng.normal(0, 0.02, bt.shape))
    util[g], power[g] = u, np.round(watts, 3) / 1000
    fac = dev["facility_idx"].to_numpy()[g]
    temp[g] = np.round(amb[fac] + 8 + 45 * watts / tdp + rng.normal(0, 0.8, bt.shape))


def _asic_readings(fleet, prices, clock, hashprice_day, amb, rng, power, hashrate, temp, running) -> None:
    dev, fac = fleet.devices, fleet.facilities
    a = np.flatnonzero(~fleet.is_gpu)
    if len(a) == 0:
        return
    nominal_p = dev["nominal_power_kw"].to_numpy()[a][:, None] * rng.normal(1, 0.02, (len(a), 1))
    nominal_h = dev["nominal_hashrate_ths"].to_numpy()[a][:, None] * rng.normal(1, 0.02, (len(a), 1))
    f = dev["facility_idx"].to_numpy()[a]
    pue = fac["pue"].to_numpy()[f][:, None]
    node_price = np.stack([prices.at(node, clock.epochs) for node in fac["price_node"]])
    hp_h = per_th_hour(hashprice_day[clock.day_of(np.arange(clock.n))])[None, :]
    # The operator's policy: stop mining while power costs more than the hashes earn.
    run = nominal_h * hp_h >= nominal_p * pue * node_price[f] / 1000
    shape = (len(a), clock.n)
    power[a] = np.where(run, nominal_p * (1 + rng.normal(0, 0.01, shape)), 0.0)
    hashrate[a] = np.where(run, nominal_h * (1 + rng.normal(0, 0.02, shape)), 0.0)
    temp[a] = amb[f] + np.where(run, 38.0, 3.0) + rng.normal(0, 1.0, shape) + rng.normal(0, 2, (len(a), 1))
    running[a] = run


def _demand_response(clock: Clock, fleet: Fleet, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """(facility, t0, t1) windows: a couple per week per ERCOT facility, late afternoon Central."""
    out = []
    n_days = len(clock.days())
    per_hour = max(1, 60 // clock.interval_minutes)
    for f, market in enumerate(fleet.facilities["market"]):
        if market != "ERCOT":
            continue
        n = max(1, round(n_days * 2 / 7))
        for day in sorted(rng.choice(n_days, size=min(n, n_days), replace=False)):
            t0 = int(day) * clock.per_day + int(rng.integers(20, 23)) * per_hour  # 14:00-17:00 CST
            t1 = min(clock.n, t0 + int(rng.integers(1, 3)) * per_hour)
            out.append((f, t0, t1))
    return out


def _apply_caps(fleet, power, hashrate, running, windows, rng) -> tuple[np.ndarray, list[float]]:
    """Curtail the least efficient running ASICs wherever a facility exceeds its cap (DR lowers it)."""
    dev, fac = fleet.devices, fleet.facilities
    n_fac, n_t = len(fac), power.shape[1]
    caps, dr_kw = np.zeros(n_fac), []
    eff = dev["nominal_power_kw"].to_numpy() / np.maximum(dev["nominal_hashrate_ths"].to_numpy(), 1e-9)
    limit = np.empty((n_fac, n_t))
    for f in range(n_fac):
        members = np.flatnonzero(dev["facility_idx"].to_numpy() == f)
        draw = power[members].sum(axis=0) * fac["pue"].iat[f]
        caps[f] = np.round(np.quantile(draw, CAP_QUANTILE), -1) if draw.max() > 0 else 10.0
        limit[f] = caps[f]
    for f, t0, t1 in windows:
        kw = float(np.round(caps[f] * rng.uniform(0.15, 0.35), -1))
        dr_kw.append(kw)
        limit[f, t0:t1] = caps[f] - kw
    for f in range(n_fac):
        asics = np.flatnonzero((dev["facility_idx"].to_numpy() == f) & (dev["kind"].to_numpy() == "asic"))
        members = np.flatnonzero(dev["facility_idx"].to_numpy() == f)
        pue = fac["pue"].iat[f]
        excess = power[members].sum(axis=0) * pue - limit[f]
        if len(asics) == 0 or excess.max() <= 0:
            continue
        order = asics[np.argsort(-eff[asics], kind="stable")]  # worst J/TH first
        p = power[order] * pue
        before = np.cumsum(p, axis=0) - p
        cut = (before < excess[None, :]) & (p > 0)
        rows = order[:, None].repeat(n_t, axis=1)[cut]
        cols = np.nonzero(cut)[1]
        power[rows, cols], hashrate[rows, cols], running[rows, cols] = 0.0, 0.0, False
    return caps, dr_kw


def _apply_faults(faults: list[Fault], clock: Clock, r: Readings, rng: np.random.Generator) -> None:
    for ft in faults:
        d, t0, t1 = ft.device, ft.t0, ft.t1
        if ft.fault_type == "overheating":
            rise = float(rng.uniform(20, 32))
            r.temperature_c[d, t0:t1] += np.linspace(0, rise, t1 - t0)
            ft.details = f"temperature climbs by {rise:.0f} C over the window"
        elif ft.fault_type == "hashboard_failure":
            r.hashrate_ths[d, t0:t1] *= 2 / 3
            ft.details = "one of three hashboards down: hashrate -1/3 at constant power"
        elif ft.fault_type == "stuck_sensor":
            r.temperature_c[d, t0:t1] = r.temperature_c[d, t0]
            ft.details = f"temperature sensor frozen at {r.temperature_c[d, t0]:.0f} C"
        elif ft.fault_type == "offline":
            r.present[d, t0:t1] = False
            ft.details = "no telemetry rows during the window"
        elif ft.fault_type == "late_telemetry":
            r.present[d, t0:t1] = False
            day = int(clock.day_of(t0))
            r.late.extend((day + 1, t, d) for t in range(t0, t1))
            ft.details = f"rows of {clock.days()[day]} written to the file of {clock.days()[day + 1]}"
        elif ft.fault_type == "duplicated_telemetry":
            r.duplicated.extend((int(clock.day_of(t0)), t, d) for t in range(t0, t1))
            ft.details = "rows written twice in the same file"


def make_readings(
    clock: Clock,
    fleet: Fleet,
    prices: PriceBook,
    hashprice_day: np.ndarray,
    busy_type: np.ndarray,
    faults: list[Fault],
    rng: np.random.Generator,
) -> Readings:
    """All device readings, the caps that bind, DR events and the site meter, faults applied."""
    shape = (len(fleet.devices), clock.n)
    power, hashrate, util, temp = (np.zeros(shape) for _ in range(4))
    running = fleet.is_gpu[:, None] | np.zeros(shape, dtype=bool)
    amb = _ambient(clock, fleet)
    _asic_readings(fleet, prices, clock, hashprice_day, amb, rng, power, hashrate, temp, running)
    _gpu_readings(clock, fleet, busy_type, amb, rng, util, power, temp)
    windows = _demand_response(clock, fleet, rng)
    caps, dr_kw = _apply_caps(fleet, power, hashrate, running, windows, rng)
    # Curtailed ASICs cool towards ambient; running ones keep their heat.
    a = ~fleet.is_gpu
    temp[a] = np.where(
        running[a],
        temp[a],
        np.minimum(temp[a], _ambient(clock, fleet)[fleet.devices["facility_idx"].to_numpy()[a]] + 4),
    )
    dr = pd.DataFrame(
        {
            "event_id": [f"dr-{i + 1:04d}" for i in range(len(windows))],
            "facility_id": [fleet.facilities["facility_id"].iat[f] for f, _, _ in windows],
            "start_at": iso_z(np.array([clock.epochs[t0] for _, t0, _ in windows], dtype=np.int64)),
            "end_at": iso_z(
                np.array(
                    [clock.epochs[0] + t1 * clock.interval_minutes * 60 for _, _, t1 in windows],
                    dtype=np.int64,
                )
            ),
            "curtail_kw": dr_kw,
            "credit_usd_per_mwh": [round(float(rng.uniform(80, 250)), 2) for _ in windows],
        }
    )
    meter = np.zeros((len(fleet.facilities), clock.n))
    f_idx = fleet.devices["facility_idx"].to_numpy()
    for f in range(len(fleet.facilities)):
        meter[f] = power[f_idx == f].sum(axis=0) * fleet.facilities["pue"].iat[f]
    meter = np.round(meter * (1 + rng.normal(0, 0.003, meter.shape)), 2)
    r = Readings(power, hashrate, util, temp, running, np.ones(shape, dtype=bool), [], [], caps, meter, dr)
    _apply_faults(faults, clock, r, rng)
    return r
