"""Customer workloads on the GPU pools: lifecycle events and which GPU is busy when.

Each pool runs three kinds of work, on a scheduler that gives inference priority:

- inference services (long-running deployments): replicas of 1-2 GPUs that an autoscaler adds and
  removes as the service's traffic (``demand.service_traffic``: diurnal, weekly, bursty) moves; a
  replica is a workload from ``submitted``/``started`` to ``completed`` (scaled in) or ``failed``;
- nightly batch pipelines: each evening a customer submits an array of short 1-2 GPU shards that
  run overnight in the trough the inference traffic leaves;
- ad-hoc batch jobs (1-8 GPUs, hours long) submitted during the working day: a small share, as
  in pools of 50-70 GPUs a few of them are most of the hour-to-hour noise no model can forecast.

Batch work only starts while the pool stays under ``BATCH_FILL`` busy (headroom for inference
bursts), and an inference replica that finds no free GPU preempts (``paused``) the newest batch
job, which is ``resumed`` later.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from ingestion.simulator.clock import Clock
from ingestion.simulator.demand import batch_rate_shape, service_traffic

INFERENCE_LOAD = 0.33  # weekday mean share of a pool's GPUs the inference traffic needs
NIGHTLY_LOAD = 0.12  # share of a pool's GPU-hours the nightly batch pipelines bring
ADHOC_LOAD = 0.03  # share of a pool's GPU-hours ad-hoc batch jobs bring (on weekdays)
BATCH_FILL = 0.85  # batch starts only while the pool stays under this share busy
HEADROOM = 0.10  # autoscaler target: capacity for 110% of the traffic
DOWNSCALE_MINUTES = 30  # scale-in stabilisation window (scale-out is immediate)
REPLICA_FAILURES_PER_DAY = 0.05  # a replica crashes about once in 20 days
GPUS_PER_SERVICE = 16  # a pool has about one inference service per this many GPUs
GPU_CHOICES = np.array([1, 2, 4, 8])
GPU_PROBS = np.array([0.3, 0.3, 0.25, 0.15])  # ad-hoc batch job sizes
BATCH_HOURS = 3.0  # mean length of an ad-hoc batch job
SHARD_HOURS = 1.5  # mean length of a nightly pipeline shard
CODE = {"inference": 1, "batch": 2}


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


@dataclass
class _Service:
    """An autoscaled inference deployment: ``replicas[t]`` is what the autoscaler wants at t."""

    customer_id: str
    replica_gpus: int
    replicas: np.ndarray
    running: list[_Job] = field(default_factory=list)
    pending: deque[_Job] = field(default_factory=deque)


@dataclass
class _Pipeline:
    """A nightly batch pipeline: ``shards`` jobs of ``gpus`` GPUs submitted at ``hour`` UTC."""

    customer_id: str
    hour: int
    gpus: int
    shards: int


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


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"wl-{self.n:06d}"


def _batch_job(pool, customer, gpus, hours, t, rng, ids: _Ids, per_hour: float) -> _Job:
    fate = rng.choice(["completed", "failed", "cancel_queued", "cancel_running"], p=[0.84, 0.05, 0.05, 0.06])
    job = _Job(
        ids.next(), customer, "batch", pool, gpus, t, max(1, round(hours * per_hour)), str(fate), -1, 0
    )
    if rng.random() < 0.15 and job.run_left > 4:  # the customer pauses it for a while
        job.pause_at = int(rng.integers(1, job.run_left))
        job.pause_len = int(rng.integers(1, 3 * int(per_hour) + 2))
    return job


def simulate_workloads(
    clock: Clock, devices: pd.DataFrame, customers: list[str], rng: np.random.Generator
) -> Workloads:
    """Run each GPU pool's scheduler (see the module docstring); returns the events and the GPU
    busy matrix."""
    busy_type = np.zeros((len(devices), clock.n), dtype=np.int8)
    em = _Emitter(clock, rng, devices["device_id"].tolist())
    ids = _Ids()
    gpus = devices[devices["kind"] == "gpu"]
    for pool, members in gpus.groupby("gpu_pool", sort=True):
        _Pool(str(pool), members.index.to_list(), clock, rng, customers, em, busy_type, ids).run()
    em.events.sort(key=lambda e: (e["event_at"], e["event_id"]))
    return Workloads(em.events, busy_type > 0, busy_type)


def _services(size: int, clock: Clock, customers: list[str], rng: np.random.Generator) -> list[_Service]:
    n = max(1, min(len(customers), round(size / GPUS_PER_SERVICE)))
    means = INFERENCE_LOAD * size * rng.dirichlet(np.full(n, 3.0))
    window = max(1, DOWNSCALE_MINUTES // clock.interval_minutes)
    found = []
    for customer, mean in zip(rng.choice(customers, n, replace=False), means, strict=True):
        replica = 2 if mean >= 8 and rng.random() < 0.5 else 1
        need = service_traffic(clock.epochs, clock.interval_minutes, float(mean), rng)
        want = np.maximum(1, np.ceil(need * (1 + HEADROOM) / replica)).astype(int)
        # scale in only after the traffic has stayed low for the whole window (as HPA does)
        padded = np.concatenate([np.full(window - 1, want[0]), want])
        found.append(_Service(str(customer), replica, sliding_window_view(padded, window).max(axis=1)))
    return found


def _pipelines(size: int, customers: list[str], rng: np.random.Generator) -> list[_Pipeline]:
    n = max(1, min(len(customers), round(size / (2 * GPUS_PER_SERVICE))))
    found = []
    for customer in rng.choice(customers, n, replace=False):
        gpus = int(rng.choice([1, 2]))
        shards = max(1, round(NIGHTLY_LOAD * size * 24 / n / (gpus * SHARD_HOURS)))
        # submitted 20:00-01:00 Central: the end of the customers' working day
        found.append(_Pipeline(str(customer), int(rng.integers(2, 7)), gpus, shards))
    return found


class _Pool:
    """One pool's scheduler state; ``run`` steps through every interval."""

    def __init__(self, pool, members, clock, rng, customers, em, busy_type, ids):
        self.pool, self.size, self.clock, self.rng, self.customers = pool, len(members), clock, rng, customers
        self.em, self.busy_type, self.ids = em, busy_type, ids
        self.per_hour = 60 / clock.interval_minutes
        self.free = deque(members)
        self.queue: deque[_Job] = deque()  # batch jobs waiting to start
        self.running: list[_Job] = []  # batch jobs running
        self.paused: list[_Job] = []
        self.services = _services(self.size, clock, customers, rng)
        self.pipelines = _pipelines(self.size, customers, rng)
        mean_gpus = float(GPU_CHOICES @ GPU_PROBS)
        self.adhoc_rate = ADHOC_LOAD * self.size / (mean_gpus * BATCH_HOURS * self.per_hour)
        self.adhoc_shape = batch_rate_shape(clock.epochs)

    def run(self) -> None:
        for t in range(self.clock.n):
            self._arrivals(t)
            self._progress(t)
            self._autoscale(t)
            self._place_replicas(t)
            self._place_batch(t)
        for job in self.running + [j for s in self.services for j in s.running]:
            # still running at the end of the period: no terminal event
            self.busy_type[job.devices, job.since + 1 :] = CODE[job.workload_type]

    def _submit(self, job: _Job, t: int) -> None:
        self.em.emit(job, "submitted", t)
        self.queue.append(job)

    def _arrivals(self, t: int) -> None:
        rng, hour = self.rng, int(self.clock.epochs[t] % 86400 // 3600)
        # a warm start: at t=0 the pool already has a backlog of ad-hoc jobs
        lam = self.adhoc_rate * (BATCH_HOURS * self.per_hour if t == 0 else self.adhoc_shape[t])
        for _ in range(int(rng.poisson(lam))):
            customer = self.customers[int(rng.integers(len(self.customers)))]
            gpus = int(min(self.size, rng.choice(GPU_CHOICES, p=GPU_PROBS)))
            hours = rng.lognormal(np.log(BATCH_HOURS), 0.6)
            self._submit(_batch_job(self.pool, customer, gpus, hours, t, rng, self.ids, self.per_hour), t)
        if t % int(self.per_hour):
            return
        for pipe in self.pipelines:
            if pipe.hour != hour:
                continue
            for _ in range(max(1, round(pipe.shards * rng.normal(1.0, 0.1)))):
                hours = rng.lognormal(np.log(SHARD_HOURS), 0.3)
                gpus = min(self.size, pipe.gpus)
                self._submit(
                    _batch_job(self.pool, pipe.customer_id, gpus, hours, t, rng, self.ids, self.per_hour), t
                )

    def _progress(self, t: int) -> None:
        for job in list(self.running):
            job.run_left -= 1
            if job.run_left == job.pause_at:
                job.pause_at = -1
                self._pause(job, t, t + job.pause_len)
            elif job.run_left <= 0 or (job.fate == "cancel_running" and self.rng.random() < 0.02):
                self._release(job, t)
                kind = {"failed": "failed", "cancel_running": "cancelled"}.get(job.fate, "completed")
                self.em.emit(job, kind, t)
                self.running.remove(job)
        fail_p = REPLICA_FAILURES_PER_DAY / (24 * self.per_hour)
        for svc in self.services:
            for job in list(svc.running):
                if self.rng.random() < fail_p:  # the autoscaler replaces it below
                    self._release(job, t)
                    self.em.emit(job, "failed", t)
                    svc.running.remove(job)

    def _autoscale(self, t: int) -> None:
        for svc in self.services:
            want, have = int(svc.replicas[t]), len(svc.running) + len(svc.pending)
            for _ in range(want - have):
                job = _Job(self.ids.next(), svc.customer_id, "inference", self.pool,
                           min(self.size, svc.replica_gpus), t, self.clock.n + 1, "completed", -1, 0)  # fmt: skip
                self.em.emit(job, "submitted", t)
                svc.pending.append(job)
            for _ in range(have - want):
                if svc.pending:  # a replica not started yet is withdrawn first
                    self.em.emit(svc.pending.pop(), "cancelled", t)
                    continue
                job = svc.running.pop()  # the newest replica goes
                self._release(job, t)
                self.em.emit(job, "completed", t)

    def _place_replicas(self, t: int) -> None:
        for svc in self.services:
            while svc.pending:
                job = svc.pending[0]
                while len(self.free) < job.gpus and self.running:
                    newest = max(self.running, key=lambda j: (j.since, j.workload_id))
                    self._pause(newest, t, t + 1)  # preempted: resumes when GPUs are free again
                if len(self.free) < job.gpus:
                    return  # the pool is full of inference: the rest waits
                svc.pending.popleft()
                self._start(job, t)
                svc.running.append(job)

    def _place_batch(self, t: int) -> None:
        busy = self.size - len(self.free)
        waiting = [j for j in self.paused if j.resume_t <= t] + list(self.queue)
        for job in waiting:
            if job.state == "queued" and job.fate == "cancel_queued" and t - job.submit_t >= 2:
                self.queue.remove(job)
                self.em.emit(job, "cancelled", t)
                continue
            if len(self.free) < job.gpus or busy + job.gpus > BATCH_FILL * self.size:
                continue  # FIFO with backfill: smaller jobs behind may still fit
            (self.queue if job.state == "queued" else self.paused).remove(job)
            self._start(job, t)
            self.running.append(job)
            busy += job.gpus

    def _start(self, job: _Job, t: int) -> None:
        job.devices = [self.free.popleft() for _ in range(job.gpus)]
        self.em.emit(job, "started" if job.state == "queued" else "resumed", t, job.devices)
        job.state, job.since = "running", t

    def _pause(self, job: _Job, t: int, resume_t: int) -> None:
        self._release(job, t)
        self.em.emit(job, "paused", t)
        job.state, job.resume_t = "paused", resume_t
        self.running.remove(job)
        self.paused.append(job)

    def _release(self, job: _Job, t: int) -> None:
        self.busy_type[job.devices, job.since + 1 : t + 1] = CODE[job.workload_type]
        self.free.extend(job.devices)
        job.devices = []
