"""Customer workloads on the GPU pools: lifecycle events and which GPU is busy when."""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ingestion.simulator.clock import Clock

TARGET_LOAD = 0.7  # share of a pool's GPU-hours customers ask for
GPU_CHOICES = np.array([1, 2, 4, 8])
GPU_PROBS = np.array([0.3, 0.3, 0.25, 0.15])
MEAN_HOURS = {"inference": 7.0, "batch": 3.0}


@dataclass
class _Job:
    workload_id: str
    customer_id: str
    workload_type: str
    pool: str
    gpus: int
    submit_t: int
    run_left: int  # intervals of work still to do
    fate: str  # completed | failed | cancel_queued | cancel_running
    pause_at: int  # intervals of work after which it pauses (-1: never)
    pause_len: int
    devices: list[int] = field(default_factory=list)
    state: str = "queued"
    since: int = 0
    resume_t: int = -1


@dataclass
class Workloads:
    events: list[dict]  # in event-time order; event_at as epoch seconds (int)
    busy: np.ndarray  # bool[D, T], True where a GPU serves a workload at the sample time
    busy_type: np.ndarray  # int8[D, T], 1 inference, 2 batch, 0 idle


class _Emitter:
    def __init__(self, clock: Clock, rng: np.random.Generator, device_ids: list[str]):
        self.clock, self.rng, self.device_ids = clock, rng, device_ids
        self.events: list[dict] = []
        self.span = clock.interval_minutes * 60

    def emit(self, job: _Job, kind: str, t: int, devices: list[int] | None = None) -> None:
        # Starts land late in the interval and other events early, so a start never precedes its
        # submit within one interval and a GPU's sample at t+1 sees the start.
        lo, hi = (0.5, 0.9) if kind in ("started", "resumed") else (0.0, 0.4)
        at = int(self.clock.epochs[t]) + int(self.rng.integers(int(lo * self.span), int(hi * self.span)))
        self.events.append(
            {
                "event_id": str(uuid.UUID(bytes=self.rng.bytes(16), version=4)),
                "workload_id": job.workload_id,
                "customer_id": job.customer_id,
                "event_type": kind,
                "event_at": at,
                "workload_type": job.workload_type,
                "gpu_pool": job.pool,
                "gpus_requested": job.gpus,
                "device_ids": [self.device_ids[d] for d in devices or []],
            }
        )


def _new_jobs(
    pool: str, size: int, t: int, n: int, customers: list[str], rng, counter: list[int], per_hour: float
) -> list[_Job]:
    jobs = []
    for _ in range(n):
        counter[0] += 1
        wtype = "inference" if rng.random() < 0.6 else "batch"
        hours = rng.lognormal(np.log(MEAN_HOURS[wtype]), 0.6)
        fate = rng.choice(
            ["completed", "failed", "cancel_queued", "cancel_running"], p=[0.84, 0.05, 0.05, 0.06]
        )
        jobs.append(
            _Job(
                workload_id=f"wl-{counter[0]:06d}",
                customer_id=customers[int(rng.integers(len(customers)))],
                workload_type=wtype,
                pool=pool,
                gpus=int(min(size, rng.choice(GPU_CHOICES, p=GPU_PROBS))),
                submit_t=t,
                run_left=max(1, round(hours * per_hour)),
                fate=str(fate),
                pause_at=-1,
                pause_len=0,
            )
        )
    return jobs


def simulate_workloads(
    clock: Clock, devices: pd.DataFrame, customers: list[str], rng: np.random.Generator
) -> Workloads:
    """Run a FIFO scheduler per GPU pool; returns the events and the GPU busy matrix."""
    n_dev, n_t = len(devices), clock.n
    busy_type = np.zeros((n_dev, n_t), dtype=np.int8)
    em = _Emitter(clock, rng, devices["device_id"].tolist())
    per_hour = 60 / clock.interval_minutes
    counter = [0]
    gpus = devices[devices["kind"] == "gpu"]
    for pool, members in gpus.groupby("gpu_pool", sort=True):
        _run_pool(str(pool), members.index.to_list(), clock, rng, customers, em, busy_type, per_hour, counter)
    em.events.sort(key=lambda e: (e["event_at"], e["event_id"]))
    return Workloads(em.events, busy_type > 0, busy_type)


def _run_pool(
    pool: str,
    members: list[int],
    clock: Clock,
    rng: np.random.Generator,
    customers: list[str],
    em: _Emitter,
    busy_type: np.ndarray,
    per_hour: float,
    counter: list[int],
) -> None:
    """FIFO with backfill over one pool's GPUs; writes busy_type and emits the lifecycle events."""
    size = len(members)
    mean_gpus = float(GPU_CHOICES @ GPU_PROBS)
    mean_hours = 0.6 * MEAN_HOURS["inference"] + 0.4 * MEAN_HOURS["batch"]
    rate = TARGET_LOAD * size / (mean_gpus * mean_hours) / per_hour  # arrivals per interval
    free = deque(members)
    queue: deque[_Job] = deque()
    running: list[_Job] = []
    paused: list[_Job] = []
    code = {"inference": 1, "batch": 2}
    for t in range(clock.n):
        # A warm start: at t=0 the pool already has a backlog, so utilisation is steady from day one.
        n_new = int(rng.poisson(rate * (mean_hours * per_hour if t == 0 else 1)))
        for job in _new_jobs(pool, size, t, n_new, customers, rng, counter, per_hour):
            if rng.random() < 0.15 and job.run_left > 4:
                job.pause_at = int(rng.integers(1, job.run_left))
                job.pause_len = int(rng.integers(1, 3 * int(per_hour) + 2))
            em.emit(job, "submitted", t)
            queue.append(job)
        for job in list(running):
            job.run_left -= 1
            if job.run_left == job.pause_at:
                job.pause_at = -1
                _release(job, free, busy_type, code, t)
                em.emit(job, "paused", t)
                job.state, job.resume_t = "paused", t + job.pause_len
                running.remove(job)
                paused.append(job)
            elif job.run_left <= 0 or (job.fate == "cancel_running" and rng.random() < 0.02):
                _release(job, free, busy_type, code, t)
                kind = {"failed": "failed", "cancel_running": "cancelled"}.get(job.fate, "completed")
                em.emit(job, kind, t)
                running.remove(job)
        waiting = [j for j in paused if j.resume_t <= t] + list(queue)
        for job in waiting:
            if job.state == "queued" and job.fate == "cancel_queued" and t - job.submit_t >= 2:
                queue.remove(job)
                em.emit(job, "cancelled", t)
                continue
            if len(free) < job.gpus:
                continue  # FIFO with backfill: smaller jobs behind may still fit
            job.devices = [free.popleft() for _ in range(job.gpus)]
            em.emit(job, "started" if job.state == "queued" else "resumed", t, job.devices)
            (queue if job.state == "queued" else paused).remove(job)
            job.state, job.since = "running", t
            running.append(job)
    for job in running:  # still running at the end of the period: no terminal event
        busy_type[job.devices, job.since + 1 :] = code[job.workload_type]


def _release(job: _Job, free: deque, busy_type: np.ndarray, code: dict, t: int) -> None:
    busy_type[job.devices, job.since + 1 : t + 1] = code[job.workload_type]
    free.extend(job.devices)
    job.devices = []
