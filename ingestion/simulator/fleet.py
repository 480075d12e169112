"""Facilities, devices, customers and rate cards of the simulated operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from ingestion.simulator.spec import ASIC_MODELS, GPU_MODELS, GPU_SHARE, GPUS_PER_NODE, SITES

ASIC_PER_RACK = 40
RACKS_PER_ROW = 10
GPU_FIRST_ROW = 50  # GPU servers sit in their own hall, rows numbered from here


@dataclass
class Fleet:
    facilities: pd.DataFrame  # facility_id, name, market, price_node, timezone, pue, ambient_c
    devices: pd.DataFrame  # one row per device, see devices.csv, plus model_idx, facility_idx, hostname, gpu

    @property
    def is_gpu(self) -> np.ndarray:
        return (self.devices["kind"] == "gpu").to_numpy()


def fleet_composition(devices: int) -> tuple[int, int]:
    """(ASIC count, GPU count) for a fleet size; GPUs come in whole nodes of 8."""
    nodes = round(devices * GPU_SHARE / GPUS_PER_NODE)
    if nodes == 0 and devices >= 2 * GPUS_PER_NODE:
        nodes = 1  # a tiny fleet still gets one GPU node so every file kind is exercised
    n_gpu = nodes * GPUS_PER_NODE
    return devices - n_gpu, n_gpu


def make_facilities(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Facilities table (power_cap_kw is filled later, from the simulated draw)."""
    rows = []
    for i in range(n):
        site = SITES[i % len(SITES)]
        suffix = i // len(SITES) + 1
        rows.append(
            {
                "facility_id": f"{site.key}-{suffix}",
                "name": site.name if suffix == 1 else f"{site.name} {suffix}",
                "market": site.market,
                "price_node": site.node,
                "timezone": site.timezone,
                "pue": round(float(rng.uniform(1.05, 1.35)), 3),
                "ambient_c": site.ambient_c,
            }
        )
    return pd.DataFrame(rows)


def _split(total: int, shares: list[float]) -> np.ndarray:
    """Integer counts proportional to shares that sum exactly to total."""
    raw = np.asarray(shares) / sum(shares) * total
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


def _asics(facility_ids: list[str], n_asic: int, rng: np.random.Generator) -> pd.DataFrame:
    per_fac = _split(n_asic, [1.0] * len(facility_ids))
    rows = []
    for f, (fid, count) in enumerate(zip(facility_ids, per_fac, strict=True)):
        models = np.repeat(np.arange(len(ASIC_MODELS)), _split(count, [m.share for m in ASIC_MODELS]))
        rng.shuffle(models)
        for i, m in enumerate(models):
            model = ASIC_MODELS[m]
            rack = i // ASIC_PER_RACK
            rows.append(
                {
                    "device_id": f"{fid}-asic-{i + 1:04d}",
                    "facility_id": fid,
                    "kind": "asic",
                    "model": model.name,
                    "gpu_pool": "",
                    "nominal_power_kw": model.power_w / 1000,
                    "nominal_hashrate_ths": model.hashrate_ths,
                    "rack": f"R{rack + 1:03d}",
                    "rack_row": rack // RACKS_PER_ROW + 1,
                    "rack_slot": i % ASIC_PER_RACK + 1,
                    "model_idx": int(m),
                    "facility_idx": f,
                    "hostname": "",
                    "gpu": -1,
                }
            )
    return pd.DataFrame(rows)


def _gpus(facility_ids: list[str], n_gpu: int) -> pd.DataFrame:
    nodes = n_gpu // GPUS_PER_NODE
    node_models = np.repeat(np.arange(len(GPU_MODELS)), _split(nodes, [m.share for m in GPU_MODELS]))
    rows = []
    for k, m in enumerate(node_models):
        f = k % len(facility_ids)  # nodes spread round-robin over the facilities
        fid = facility_ids[f]
        model = GPU_MODELS[m]
        host = f"{fid}-gpun-{k + 1:03d}"
        for g in range(GPUS_PER_NODE):
            rows.append(
                {
                    "device_id": f"{host}-gpu{g}",
                    "facility_id": fid,
                    "kind": "gpu",
                    "model": model.name,
                    "gpu_pool": model.pool,
                    "nominal_power_kw": model.power_w / 1000,
                    "nominal_hashrate_ths": 0.0,
                    "rack": f"G{k // 4 + 1:03d}",  # four 8-GPU servers per GPU rack
                    "rack_row": GPU_FIRST_ROW + k // (4 * RACKS_PER_ROW),
                    "rack_slot": (k % 4) * GPUS_PER_NODE + g + 1,
                    "model_idx": int(m),
                    "facility_idx": f,
                    "hostname": host,
                    "gpu": g,
                }
            )
    return pd.DataFrame(rows)


def make_fleet(facilities: int, devices: int, rng: np.random.Generator) -> Fleet:
    """Facilities and devices: ASICs of three models, GPUs in 8-GPU nodes of two models."""
    if facilities < 1 or devices < facilities:
        raise ValueError("need at least one facility and one device per facility")
    fac = make_facilities(facilities, rng)
    n_asic, n_gpu = fleet_composition(devices)
    ids = fac["facility_id"].tolist()
    dev = pd.concat([_asics(ids, n_asic, rng), _gpus(ids, n_gpu)], ignore_index=True)
    dev = dev.sort_values(["facility_idx", "kind", "device_id"], kind="stable").reset_index(drop=True)
    return Fleet(fac, dev)


_COMPANIES = (
    ("Northwind Analytics", "northwind.example"),
    ("Helios Vision Labs", "heliosvision.example"),
    ("Bluebonnet Robotics", "bluebonnet.example"),
    ("Quarry AI", "quarry-ai.example"),
    ("Lattice Health", "latticehealth.example"),
    ("Ferrous Logistics", "ferrous.example"),
    ("Copperline Media", "copperline.example"),
    ("Sable Speech", "sablespeech.example"),
    ("Orchard Genomics", "orchardgen.example"),
    ("Tidewater Retail", "tidewater.example"),
    ("Granite Colocation Partners", "granitecolo.example"),
    ("Meridian Search", "meridiansearch.example"),
)
_STREETS = ("Main St", "Congress Ave", "Market St", "Elm St", "Commerce Dr", "Innovation Way")
_CITIES = (
    ("Austin", "TX", "787", "America/Chicago", 0.0825),
    ("Dallas", "TX", "752", "America/Chicago", 0.0825),
    ("Pittsburgh", "PA", "152", "America/New_York", 0.07),
    ("Denver", "CO", "802", "America/Denver", 0.0481),
    ("Seattle", "WA", "981", "America/Los_Angeles", 0.1025),
    ("Portland", "OR", "972", "America/Los_Angeles", 0.0),
    ("Wilmington", "DE", "198", "America/New_York", 0.0),
)


def make_customers(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Customers with fake names, emails, addresses and tax ids; one or two are colocation."""
    rows = []
    n_colo = 1 if n < 6 else 2
    for i in range(n):
        name, domain = _COMPANIES[i % len(_COMPANIES)]
        if i >= len(_COMPANIES):
            name, domain = f"{name} {i // len(_COMPANIES) + 1}", f"{i}.{domain}"
        city, state, zip3, tz, tax = _CITIES[int(rng.integers(len(_CITIES)))]
        street = _STREETS[int(rng.integers(len(_STREETS)))]
        rows.append(
            {
                "customer_id": f"cust-{i + 1:03d}",
                "name": name,
                "email": f"billing@{domain}",
                "billing_address": f"{int(rng.integers(100, 9999))} {street}, {city}, {state} {zip3}{int(rng.integers(10, 99))}",
                "tax_id": f"{int(rng.integers(10, 99))}-{int(rng.integers(1000000, 9999999))}",
                "timezone": tz,
                "tax_rate": f"{tax:.4f}",
                "customer_type": "colocation" if i >= n - n_colo else "inference",
            }
        )
    return pd.DataFrame(rows)


LIST_PRICES = {  # USD per GPU-hour, by (model, workload type)
    ("NVIDIA H100 80GB HBM3", "inference"): 2.49,
    ("NVIDIA H100 80GB HBM3", "batch"): 1.99,
    ("NVIDIA L40S", "inference"): 0.99,
    ("NVIDIA L40S", "batch"): 0.79,
}


def make_rate_cards(
    customers: pd.DataFrame, start: datetime, end: datetime, rng: np.random.Generator
) -> pd.DataFrame:
    """List cards, a mid-period list-price change, and discounted cards for some customers."""
    before = (start - timedelta(days=90)).strftime("%Y-%m-%dT00:00:00Z")
    mid = (start + (end - start) // 2).strftime("%Y-%m-%dT00:00:00Z")
    rows = []
    for (model, wtype), price in LIST_PRICES.items():
        rows.append(("", model, wtype, price, 60 if wtype == "batch" else 1, before))
    # The rate change in the middle of the period: H100 inference list price drops 8%.
    h100 = "NVIDIA H100 80GB HBM3"
    rows.append(("", h100, "inference", round(LIST_PRICES[(h100, "inference")] * 0.92, 2), 1, mid))
    n_discount = max(1, len(customers) * 3 // 10)
    for cid in customers["customer_id"].iloc[:n_discount]:
        discount = float(rng.choice([0.10, 0.15, 0.20]))
        increment = int(rng.choice([1, 60]))
        for (model, wtype), price in LIST_PRICES.items():
            rows.append((cid, model, wtype, round(price * (1 - discount), 2), increment, before))
    df = pd.DataFrame(
        rows,
        columns=[
            "customer_id",
            "gpu_model",
            "workload_type",
            "price_usd_per_gpu_hour",
            "min_increment_seconds",
            "effective_from",
        ],
    )
    df.insert(0, "rate_card_id", [f"rc-{i + 1:04d}" for i in range(len(df))])
    return df
