"""What the live fleet code talks to and how: the inventory file and the ``HCP_FLEET_*`` settings.

The inventory is a TOML file (``HCP_FLEET_INVENTORY``)::

    [[miners]]                      # one miner per table, by address
    device_id = "asic-0001"
    address = "10.0.0.11"

    [[miner_ranges]]                # or ranges (asic-rs syntax); the miner's hostname is its device id
    range = "10.0.1.1-50"

    [[gpu_nodes]]                   # DCGM exporters, one per GPU node
    node = "gpu-node-1"
    url = "http://10.0.2.1:9400/metrics"

    [[markets]]                     # ISO price nodes for the live price asset
    iso = "ERCOT"
    nodes = ["HB_NORTH"]

    [[miner_logins]]                # firmwares whose default password was changed
    firmware = "Proto Stock"        # asic-rs's firmware name
    username = ""                   # optional
    password_env = "HCP_MINER_PASSWORD_PROTO"   # read from this variable, never from the file
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FleetSettings(BaseSettings):
    """Live fleet settings, each from ``HCP_FLEET_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="HCP_FLEET_", extra="ignore")

    inventory: Path | None = Field(default=None, description="TOML inventory file (see module docs)")
    concurrency: int = Field(default=32, ge=1, description="machines polled or commanded at once")
    timeout_s: float = Field(default=10.0, gt=0, description="per-machine time limit of a poll or command")
    network: bool = Field(default=False, description="market data sites may be reached (live prices)")
    max_changes: int = Field(default=20, ge=0, description="machines changed per interval at most")
    min_dwell_minutes: float = Field(default=30.0, ge=0, description="time before a machine changes again")
    price_spike_usd_mwh: float = Field(default=1000.0, description="RT price that curtails a facility")
    min_power_target_pct: float = Field(
        default=70.0, ge=0, le=100,
        description="a cap breach lowers power targets (where the firmware has them) down to this share "
        "of nominal before any miner sleeps; 100: never",
    )  # fmt: skip
    gpu_hook: str | None = Field(default=None, description="command run for GPU drain / power cap")
    gpu_idle_cap_w: float = Field(default=100.0, gt=0, description="power cap of a drained GPU (W)")
    execute: bool = Field(
        default=False,
        description="the daemon's controller runs send commands (otherwise they record a dry run)",
    )


class InventoryError(ValueError):
    """The inventory file is unusable; the message names the file and the entry."""


@dataclass(frozen=True)
class MinerTarget:
    address: str
    device_id: str | None = None  # None: the hostname the miner reports


@dataclass(frozen=True)
class GpuNode:
    node: str
    url: str


@dataclass(frozen=True)
class Market:
    iso: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class MinerLogin:
    """Credentials asic-rs uses for one firmware (``MinerFactory.with_firmware_discovery_auth``)."""

    firmware: str
    username: str
    password: str = field(repr=False)


@dataclass
class Inventory:
    miners: list[MinerTarget] = field(default_factory=list)
    gpu_nodes: list[GpuNode] = field(default_factory=list)
    markets: list[Market] = field(default_factory=list)
    logins: list[MinerLogin] = field(default_factory=list)


def load_inventory(path: str | Path) -> Inventory:
    """The inventory in ``path``; ranges are expanded to one target per address."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InventoryError(f"{path}: {err}") from None
    inventory = Inventory()
    seen: set[str] = set()
    for i, entry in enumerate(data.get("miners", [])):
        address = _address(path, f"miners[{i}].address", entry.get("address"))
        inventory.miners.append(MinerTarget(address, entry.get("device_id") or None))
        seen.add(address)
    for i, entry in enumerate(data.get("miner_ranges", [])):
        for address in expand_range(str(entry.get("range", "")), where=f"{path}: miner_ranges[{i}].range"):
            if address not in seen:
                inventory.miners.append(MinerTarget(address))
                seen.add(address)
    for i, entry in enumerate(data.get("gpu_nodes", [])):
        if not entry.get("node") or not entry.get("url"):
            raise InventoryError(f"{path}: gpu_nodes[{i}] needs node and url")
        inventory.gpu_nodes.append(GpuNode(str(entry["node"]), str(entry["url"])))
    for i, entry in enumerate(data.get("markets", [])):
        if not entry.get("iso"):
            raise InventoryError(f"{path}: markets[{i}] needs iso")
        inventory.markets.append(Market(str(entry["iso"]).upper(), tuple(entry.get("nodes", []))))
    for i, entry in enumerate(data.get("miner_logins", [])):
        inventory.logins.append(_login(path, f"miner_logins[{i}]", entry))
    return inventory


def _login(path: Path, where: str, entry: dict) -> MinerLogin:
    from pyasic_rs import MinerFactory

    variable = str(entry.get("password_env") or "")
    if not variable:
        raise InventoryError(f"{path}: {where}: needs password_env (the variable holding the password)")
    password = os.environ.get(variable)
    if password is None:
        raise InventoryError(f"{path}: {where}: {variable} is not set")
    login = MinerLogin(str(entry.get("firmware", "")), str(entry.get("username", "")), password)
    try:
        MinerFactory().with_firmware_discovery_auth(login.firmware, login.username, login.password)
    except ValueError as err:
        raise InventoryError(f"{path}: {where}.firmware: {login.firmware!r}: {err} (asic-rs names such "
                             "as 'Proto Stock', 'Braiins OS', 'VNish', 'LuxOS', 'ePIC')") from None  # fmt: skip
    return login


def _address(path: Path, where: str, value) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise InventoryError(f"{path}: {where}: not an IP address: {value!r}") from None


def expand_range(text: str, where: str = "range") -> list[str]:
    """``10.0.1.1-50`` (octet ranges, asic-rs syntax) or ``10.0.1.0/28`` (hosts of a subnet)."""
    if "/" in text:
        try:
            return [str(a) for a in ipaddress.ip_network(text, strict=False).hosts()]
        except ValueError as err:
            raise InventoryError(f"{where}: {err}") from None
    parts = text.split(".")
    if len(parts) != 4:
        raise InventoryError(f"{where}: expected a.b.c.d with octet ranges like 1-50, got {text!r}")
    octets = []
    for part in parts:
        match = re.fullmatch(r"(\d{1,3})(?:-(\d{1,3}))?", part)
        low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (1, 0)
        if not match or not 0 <= low <= high <= 255:
            raise InventoryError(f"{where}: bad octet {part!r} in {text!r}")
        octets.append(range(low, high + 1))
    return [f"{a}.{b}.{c}.{d}" for a in octets[0] for b in octets[1] for c in octets[2] for d in octets[3]]
