"""The allocation instance: which devices run in which interval (DESIGN.md, "Allocation problem")."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

# Field name -> (dtype kind, shape in terms of D, T, F, K). dtypes are checked by kind so that a
# float32 array from another tool is rejected with a message rather than silently upcast.
_SCHEMA: dict[str, tuple[type, tuple[str, ...]]] = {
    "device_facility": (np.int32, ("D",)),
    "device_pool": (np.int32, ("D",)),
    "power_kw": (np.float64, ("D",)),
    "hashrate_ths": (np.float64, ("D",)),
    "restart_usd": (np.float64, ("D",)),
    "initial_on": (np.bool_, ("D",)),
    "pue": (np.float64, ("F",)),
    "cap_kw": (np.float64, ("F", "T")),
    "price_usd_mwh": (np.float64, ("F", "T")),
    "hashprice_usd_per_th_h": (np.float64, ("T",)),
    "rate_usd_per_gpu_h": (np.float64, ("K", "T")),
    "demand_gpus": (np.int32, ("K", "T")),
    "committed_gpus": (np.int32, ("K", "T")),
    "penalty_usd_per_gpu_h": (np.float64, ("K",)),
}
_NON_NEGATIVE = ("power_kw", "hashrate_ths", "restart_usd", "cap_kw", "demand_gpus", "committed_gpus")


@dataclass
class AllocationProblem:
    """D devices over T intervals of `dt` hours, in F facilities, GPUs in K pools (ASICs: pool -1)."""

    dt: float
    device_facility: np.ndarray
    device_pool: np.ndarray
    power_kw: np.ndarray
    hashrate_ths: np.ndarray
    restart_usd: np.ndarray
    initial_on: np.ndarray
    pue: np.ndarray
    cap_kw: np.ndarray
    price_usd_mwh: np.ndarray
    hashprice_usd_per_th_h: np.ndarray
    rate_usd_per_gpu_h: np.ndarray
    demand_gpus: np.ndarray
    committed_gpus: np.ndarray
    penalty_usd_per_gpu_h: np.ndarray

    @property
    def sizes(self) -> dict[str, int]:
        """D, T, F, K as read from the arrays (before validation they may disagree)."""
        return {
            "D": len(self.device_facility),
            "T": len(self.hashprice_usd_per_th_h),
            "F": len(self.pue),
            "K": len(self.penalty_usd_per_gpu_h),
        }

    def validate(self) -> AllocationProblem:
        """Return self after checking dtypes, shapes, finiteness and index ranges; raise ValueError naming the field."""
        if (
            not isinstance(self.dt, (int, float, np.floating, np.integer))
            or not np.isfinite(self.dt)
            or self.dt <= 0
        ):
            raise ValueError(f"dt: must be a positive finite number of hours, got {self.dt!r}")
        sizes = self.sizes
        for name, (dtype, dims) in _SCHEMA.items():
            value = getattr(self, name)
            if not isinstance(value, np.ndarray):
                raise ValueError(f"{name}: expected a numpy array, got {type(value).__name__}")
            if value.dtype != dtype:
                raise ValueError(f"{name}: expected dtype {np.dtype(dtype).name}, got {value.dtype.name}")
            shape = tuple(sizes[d] for d in dims)
            if value.shape != shape:
                raise ValueError(f"{name}: expected shape {shape} ({', '.join(dims)}), got {value.shape}")
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise ValueError(f"{name}: contains NaN or infinite values")
        for name in _NON_NEGATIVE:
            if np.any(getattr(self, name) < 0):
                raise ValueError(f"{name}: must be non-negative")
        if np.any(self.pue <= 0):
            raise ValueError("pue: must be positive")
        facility, pool = self.device_facility, self.device_pool
        if np.any((facility < 0) | (facility >= sizes["F"])):
            raise ValueError(f"device_facility: index out of range 0..{sizes['F'] - 1}")
        if np.any((pool < -1) | (pool >= sizes["K"])):
            raise ValueError(f"device_pool: index out of range -1..{sizes['K'] - 1} (-1 = ASIC)")
        return self

    def to_npz(self, path: str | Path) -> None:
        """Write the instance to `path` (.npz) with the field names as keys."""
        np.savez_compressed(path, **{f.name: np.asarray(getattr(self, f.name)) for f in fields(self)})

    @classmethod
    def from_npz(cls, path: str | Path) -> AllocationProblem:
        """The instance stored at `path` by `to_npz` (or any tool using the same keys), validated."""
        with np.load(path, allow_pickle=False) as data:
            missing = [f.name for f in fields(cls) if f.name not in data]
            if missing:
                raise ValueError(f"{path}: missing keys {missing}")
            values = {f.name: data[f.name] for f in fields(cls)}
        values["dt"] = float(values["dt"])
        return cls(**values).validate()


def margins(problem: AllocationProblem) -> np.ndarray:
    """Margin in USD of each device running in each interval, float64[D, T] (plain NumPy)."""
    p = problem
    energy_usd = (
        (p.power_kw * p.pue[p.device_facility])[:, None] * p.price_usd_mwh[p.device_facility] / 1000.0
    )
    is_gpu = p.device_pool >= 0
    revenue = p.hashrate_ths[:, None] * p.hashprice_usd_per_th_h[None, :]
    revenue[is_gpu] = p.rate_usd_per_gpu_h[p.device_pool[is_gpu]]
    return p.dt * (revenue - energy_usd)


def load_kw(problem: AllocationProblem) -> np.ndarray:
    """Draw of each device at the facility meter (PUE included), float64[D]."""
    return problem.power_kw * problem.pue[problem.device_facility]
