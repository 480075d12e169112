"""Fixed catalogue the simulator draws from: device models, market nodes, site templates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AsicModel:
    name: str
    hashrate_ths: float
    power_w: float
    vendor: str  # "antminer" reports GHS + chain_power, "whatsminer" MHS + Power, as the firmwares do
    share: float  # fraction of the ASIC fleet


@dataclass(frozen=True)
class GpuModel:
    name: str  # DCGM modelName, also the model on devices.csv and rate cards
    pool: str
    power_w: float
    idle_w: float
    memory_mib: int
    share: float  # fraction of GPU nodes


ASIC_MODELS = (
    AsicModel("Antminer S19 XP", 140.0, 3010.0, "antminer", 0.40),
    AsicModel("Antminer S21", 200.0, 3500.0, "antminer", 0.35),
    AsicModel("Whatsminer M50S", 126.0, 3276.0, "whatsminer", 0.25),
)
GPU_MODELS = (
    GpuModel("NVIDIA H100 80GB HBM3", "h100", 700.0, 70.0, 81559, 0.6),
    GpuModel("NVIDIA L40S", "l40s", 350.0, 35.0, 46068, 0.4),
)
GPUS_PER_NODE = 8
GPU_SHARE = 0.12  # share of devices that are GPUs (the rest are ASICs)


@dataclass(frozen=True)
class SiteTemplate:
    key: str
    name: str
    market: str
    node: str
    timezone: str
    ambient_c: float


# Facilities cycle through these; two ERCOT hubs and one PJM hub come first (the default fleet).
SITES = (
    SiteTemplate("tx-west", "Permian Basin Compute", "ERCOT", "HB_WEST", "America/Chicago", 27.0),
    SiteTemplate("tx-north", "Denton Hybrid Campus", "ERCOT", "HB_NORTH", "America/Chicago", 24.0),
    SiteTemplate("pa-west", "Monongahela Data Hall", "PJM", "WESTERN HUB", "America/New_York", 18.0),
    SiteTemplate("tx-south", "Corpus Christi Compute", "ERCOT", "HB_SOUTH", "America/Chicago", 28.0),
    SiteTemplate("va-dom", "Shenandoah AI Center", "PJM", "DOMINION HUB", "America/New_York", 20.0),
    SiteTemplate("tx-houston", "Gulf Coast Mining", "ERCOT", "HB_HOUSTON", "America/Chicago", 27.0),
)


@dataclass(frozen=True)
class PriceNode:
    market: str
    name: str
    kind: str  # ERCOT SettlementPointType or PJM type
    offset_usd: float  # level relative to the market's system price
    pnode_id: int = 0
    zone: str = ""


ERCOT_NODES = (
    PriceNode("ERCOT", "HB_BUSAVG", "SH", 0.0),
    PriceNode("ERCOT", "HB_HOUSTON", "HU", 1.5),
    PriceNode("ERCOT", "HB_HUBAVG", "AH", 0.0),
    PriceNode("ERCOT", "HB_NORTH", "HU", 0.5),
    PriceNode("ERCOT", "HB_SOUTH", "HU", 1.0),
    PriceNode("ERCOT", "HB_WEST", "HU", -4.0),
    PriceNode("ERCOT", "LZ_HOUSTON", "LZ", 2.0),
    PriceNode("ERCOT", "LZ_NORTH", "LZ", 0.8),
    PriceNode("ERCOT", "LZ_WEST", "LZ", -3.0),
)
ERCOT_DAM_NODES = ("HB_BUSAVG", "HB_HOUSTON", "HB_HUBAVG", "HB_NORTH", "HB_SOUTH", "HB_WEST")
PJM_NODES = (
    PriceNode("PJM", "AEP-DAYTON HUB", "HUB", -1.0, 34497127, ""),
    PriceNode("PJM", "DOMINION HUB", "HUB", 2.5, 34964545, ""),
    PriceNode("PJM", "EASTERN HUB", "HUB", 3.0, 51217, ""),
    PriceNode("PJM", "PSEG", "ZONE", 3.5, 51301, "PSEG"),
    PriceNode("PJM", "WESTERN HUB", "HUB", 0.0, 51288, ""),
)
MARKET_TZ = {"ERCOT": "America/Chicago", "PJM": "America/New_York"}
PRICE_INTERVAL_MINUTES = 15
PJM_INTERVAL_MINUTES = 5  # PJM Data Miner rt_fivemin_hrl_lmps

BLOCK_SUBSIDY_BTC = 3.125
