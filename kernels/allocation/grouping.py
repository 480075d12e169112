"""Identical devices as classes: the exact reduction the solver uses on fleets of a few hardware models.

Devices that agree on facility, pool, draw, hashrate, restart cost and initial state are
interchangeable: in the Lagrangian relaxation they share one best path (so the bound computed on one
representative times the class size is exact), and a plan needs only how many of each class run in
each interval. Running the first n of a class (in device order) pays exactly max(0, n_t - n_{t-1})
restarts, the fewest any plan with those counts can pay.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kernels.allocation import _kernels as K
from kernels.allocation.problem import AllocationProblem

_DEVICE_FIELDS = ("device_facility", "device_pool", "power_kw", "hashrate_ths", "restart_usd", "initial_on")


@dataclass(frozen=True)
class DeviceClasses:
    """cls[d]: class of device d; rank[d]: its position within the class; rep[c]: one member; mult[c]: size."""

    cls: np.ndarray
    rank: np.ndarray
    rep: np.ndarray
    mult: np.ndarray

    def __len__(self) -> int:
        return len(self.rep)


def device_classes(problem: AllocationProblem) -> DeviceClasses:
    """Group the devices of `problem` into classes of identical devices (bit-identical fields)."""
    p = problem
    bits = [np.ascontiguousarray(v).view(np.uint64) for v in (p.power_kw, p.hashrate_ths, p.restart_usd)]
    cls, rank, rep, mult = K.device_classes(p.device_facility, p.device_pool, *bits, p.initial_on)
    return DeviceClasses(cls=cls, rank=rank, rep=rep, mult=mult)


def class_problem(problem: AllocationProblem, classes: DeviceClasses) -> AllocationProblem:
    """The problem with one device per class (its representative); the class sizes live in `classes.mult`."""
    return replace(problem, **{name: getattr(problem, name)[classes.rep] for name in _DEVICE_FIELDS})


def expand(
    counts: np.ndarray, off_reason: np.ndarray, classes: DeviceClasses
) -> tuple[np.ndarray, np.ndarray]:
    """Device plan uint8[D, T] running the first counts[c, t] devices of each class c at t, and the reasons
    int8[D, T]: 0 where running, else off_reason[c, t] of the device's class."""
    return K.expand_counts(classes.cls, classes.rank, counts, off_reason)
