"""Realistic random allocation instances for tests and the benchmark."""

from __future__ import annotations

import numpy as np

from kernels.allocation.problem import AllocationProblem
from kernels.hashprice import per_th_day_from_ph_day, per_th_hour

# Hashprice around 50 USD per PH/s per day, in USD per TH/s per hour.
_HASHPRICE_USD_PER_TH_H = per_th_hour(per_th_day_from_ph_day(50.0))


def _daily_shape(rng: np.random.Generator, n_intervals: int, dt: float) -> np.ndarray:
    """Evening-peaking daily profile in [-1, 1] with a random phase jitter, float64[T]."""
    hours = (np.arange(n_intervals) * dt + rng.uniform(-1.0, 1.0)) % 24.0
    return np.sin((hours - 12.0) / 24.0 * 2.0 * np.pi) * 0.7 + 0.3 * np.sin(hours / 24.0 * 4.0 * np.pi)


def _prices(rng: np.random.Generator, n_facilities: int, n_intervals: int, dt: float) -> np.ndarray:
    """Node prices USD/MWh with a daily shape, noise, occasional negative hours and spikes, float64[F, T]."""
    base = rng.uniform(35.0, 60.0, n_facilities)[:, None]
    swing = rng.uniform(15.0, 35.0, n_facilities)[:, None]
    price = (
        base + swing * _daily_shape(rng, n_intervals, dt) + rng.normal(0.0, 6.0, (n_facilities, n_intervals))
    )
    negative = rng.random((n_facilities, n_intervals)) < 0.04
    price[negative] = -rng.uniform(1.0, 40.0, negative.sum())
    spike = rng.random((n_facilities, n_intervals)) < 0.03
    price[spike] = rng.uniform(150.0, 900.0, spike.sum())
    return price


def generate(
    n_devices: int,
    n_intervals: int,
    n_facilities: int = 3,
    n_pools: int = 2,
    seed: int | None = None,
    n_models: int = 0,
) -> AllocationProblem:
    """A random but realistic AllocationProblem: ~85% ASICs, GPU nodes in `n_pools` pools, caps binding at times.

    With `n_models` > 0 the devices come from a catalogue of that many ASIC and GPU models (draw, hashrate
    and restart cost per model), as a real fleet does; otherwise every device is drawn on its own.
    """
    rng = np.random.default_rng(seed)
    D, T, F, K = n_devices, n_intervals, n_facilities, n_pools
    dt = 24.0 / T if T >= 24 else 1.0
    facility = rng.integers(0, F, D).astype(np.int32)
    is_gpu = rng.random(D) < (0.15 if K > 0 else 0.0)
    pool = np.where(is_gpu, rng.integers(0, max(K, 1), D), -1).astype(np.int32)
    joules_per_th = rng.uniform(15.0, 35.0, D)
    power = np.where(is_gpu, rng.uniform(0.7, 10.0, D), rng.uniform(3.0, 3.5, D))
    hashrate = np.where(is_gpu, 0.0, np.clip(power * 1000.0 / joules_per_th, 100.0, 400.0))
    restart = np.where(is_gpu, rng.uniform(0.5, 5.0, D), rng.uniform(0.05, 1.0, D))
    if n_models > 0:  # every device takes the figures of the first device of its model
        model = rng.integers(0, n_models, D)
        first = np.zeros(2 * n_models, dtype=np.int64)
        kind_model = model + n_models * is_gpu
        first[kind_model[::-1]] = np.arange(D)[::-1]
        power, hashrate, restart = (v[first[kind_model]] for v in (power, hashrate, restart))
    pue = rng.uniform(1.05, 1.4, F)

    # Caps: 75-110% of the installed load, with a curtailment window that halves it.
    installed = np.bincount(facility, weights=power * pue[facility], minlength=F)
    cap = installed[:, None] * rng.uniform(0.75, 1.1, (F, 1)) * rng.uniform(0.95, 1.05, (F, T))
    start = rng.integers(0, T, F)
    for f in range(F):
        if rng.random() < 0.5:
            cap[f, start[f] : start[f] + max(1, T // 8)] *= 0.5

    shape = _daily_shape(rng, T, dt)
    hashprice = _HASHPRICE_USD_PER_TH_H * (1.0 + rng.normal(0.0, 0.02, T))
    rate = rng.uniform(1.0, 4.0, (K, 1)) * (1.0 + 0.15 * shape[None, :])
    gpus = np.bincount(pool[is_gpu], minlength=K)[:K]
    demand = np.floor(gpus[:, None] * rng.uniform(0.5, 1.1, (K, T)) * (1.0 + 0.2 * shape[None, :]))
    committed = np.floor(demand * rng.uniform(0.3, 0.9, (K, 1)))
    committed[rng.random((K, T)) < 0.05] += rng.integers(1, 4)
    return AllocationProblem(
        dt=dt,
        device_facility=facility,
        device_pool=pool,
        power_kw=power,
        hashrate_ths=hashrate,
        restart_usd=restart,
        initial_on=rng.random(D) < 0.7,
        pue=pue,
        cap_kw=np.maximum(cap, 0.0),
        price_usd_mwh=_prices(rng, F, T, dt),
        hashprice_usd_per_th_h=hashprice,
        rate_usd_per_gpu_h=rate,
        demand_gpus=np.maximum(demand, 0).astype(np.int32),
        committed_gpus=committed.astype(np.int32),
        penalty_usd_per_gpu_h=rng.uniform(2.0, 6.0, K),
    ).validate()
