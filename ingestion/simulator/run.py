"""`simulate`: generate a whole landing folder for a seeded, deterministic fleet."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ingestion.simulator import market_files, record_files
from ingestion.simulator.clock import make_clock
from ingestion.simulator.faults import plan_device_faults
from ingestion.simulator.fleet import make_customers, make_fleet, make_rate_cards
from ingestion.simulator.prices import make_bitcoin, make_prices
from ingestion.simulator.telemetry import make_readings
from ingestion.simulator.telemetry_files import DcgmWriter, MinerWriter, day_rows, write_day
from ingestion.simulator.workloads import simulate_workloads

Progress = Callable[[str, int, int], None]

# Each part draws from its own stream, so changing one part leaves the others' numbers unchanged.
_STREAMS = ("fleet", "customers", "rates", "prices", "bitcoin", "workloads", "faults", "readings",
            "miner", "dcgm", "dam", "pjm", "events")  # fmt: skip


@dataclass
class SimulationSummary:
    """What a run wrote: files and data rows per kind, every path, and how long it took."""

    out_dir: Path
    files: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)
    faults: int = 0
    elapsed_seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def add(self, kind: str, path: Path, rows: int) -> None:
        self.files[kind] = self.files.get(kind, 0) + 1
        self.rows[kind] = self.rows.get(kind, 0) + rows
        self.paths.append(path)


def simulate(
    out_dir: Path,
    *,
    seed: int = 42,
    facilities: int = 3,
    devices: int = 1000,
    days: int = 7,
    interval_minutes: int = 5,
    end: datetime | None = None,
    customers: int = 10,
    progress: Progress | None = None,
    workers: int | None = None,
    telemetry_hours: int | None = None,
) -> SimulationSummary:
    """Write the landing files of docs/landing-formats.md under out_dir for [end - days, end).

    `end` is cut to its UTC midnight (naive = UTC) so every daily file covers a whole day; market
    files cover each local operating day that overlaps the period, so they reach a little further.

    Same arguments give byte-identical files (whatever `workers`, the processes that format the
    telemetry files; default: up to two cores). Returns a summary of what was written.

    `telemetry_hours` writes the telemetry of the last N hours only, one file per hour
    (``telemetry/miner/<day>T<HH>.jsonl``), formatted an hour at a time: a fleet whose day of text
    does not fit in memory (300,000 miners write about 50 GB a day). A row arriving a day late goes
    to the same hour of the next day's files; the rows are those of the daily files."""
    began = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    rngs = {name: np.random.default_rng([seed, i]) for i, name in enumerate(_STREAMS)}
    out = Path(out_dir)
    clock = make_clock(end, days, interval_minutes)
    summary = SimulationSummary(out)
    steps = 6
    report("fleet", 0, steps)
    fleet = make_fleet(facilities, devices, rngs["fleet"])
    cust = make_customers(customers, rngs["customers"])
    rates = make_rate_cards(cust, clock.start, clock.end, rngs["rates"])
    report("prices", 1, steps)
    prices = make_prices(clock, rngs["prices"])
    btc = make_bitcoin(clock, rngs["bitcoin"])
    report("workloads", 2, steps)
    work = simulate_workloads(clock, fleet.devices, cust["customer_id"].tolist(), rngs["workloads"])
    faults = plan_device_faults(clock, fleet.is_gpu, rngs["faults"])
    report("telemetry", 3, steps)
    readings = make_readings(
        clock, fleet, prices, btc.hashprice_usd_per_th_day, work.busy_type, faults, rngs["readings"]
    )
    fleet.facilities["power_cap_kw"] = readings.cap_kw
    report("reference files", 4, steps)
    _write_records(out, clock, fleet, cust, rates, prices, btc, work, faults, readings, rngs, summary)
    report("telemetry files", 5, steps)
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    _write_telemetry(out, clock, fleet, readings, rngs, summary, report, n_workers, telemetry_hours)
    report("done", steps, steps)
    summary.faults = len(faults) + len(prices.spikes)
    summary.elapsed_seconds = time.perf_counter() - began
    return summary


def _write_records(
    out, clock, fleet, cust, rates, prices, btc, work, faults, readings, rngs, summary
) -> None:
    fac = fleet.facilities[record_files.FACILITY_COLUMNS]
    summary.add("facilities", *record_files.write_csv(out / "reference/facilities.csv", fac))
    dev = fleet.devices[record_files.DEVICE_COLUMNS]
    summary.add("devices", *record_files.write_csv(out / "reference/devices.csv", dev))
    summary.add("customers", *record_files.write_csv(out / "reference/customers.csv", cust))
    summary.add("rate-cards", *record_files.write_csv(out / "reference/rate_cards.csv", rates))
    dr = readings.demand_response
    summary.add("demand-response", *record_files.write_csv(out / "reference/demand_response.csv", dr))
    for path, n in market_files.write_ercot_rt(out, clock, prices):
        summary.add("ercot-rt", path, n)
    for path, n in market_files.write_ercot_dam(out, clock, prices, rngs["dam"]):
        summary.add("ercot-dam", path, n)
    for path, n in market_files.write_pjm(out, clock, prices, rngs["pjm"]):
        summary.add("pjm-lmp", path, n)
    summary.add("bitcoin", *record_files.write_csv(out / "bitcoin/btc_daily.csv", btc.table))
    ids = fleet.facilities["facility_id"].tolist()
    for day, frame in record_files.site_meter_frames(clock, ids, readings.meter_kw):
        summary.add("site-meter", *record_files.write_csv(out / f"site_meter/{day}.csv", frame))
    for day, lines in record_files.event_lines(clock, work.events, rngs["events"]).items():
        if not lines:
            continue  # no file rather than an empty one
        path = out / f"workloads/events_{day}.jsonl"
        write_day(path, "".join(line + "\n" for line in lines))
        summary.add("events", path, len(lines))
    labels = record_files.fault_frame(clock, fleet.devices["device_id"].to_numpy(), faults, prices.spikes)
    summary.add("labels", *record_files.write_csv(out / "labels/faults.csv", labels))


_TELEMETRY: tuple | None = None  # (out, clock, readings, miner, dcgm) shared with forked workers


def _telemetry_file(job: tuple[int, int | None]) -> list[tuple[str, Path, int]]:
    """Write the miner and DCGM files of day k (hour None) or of one hour of it; returns (kind, path,
    rows) for each."""
    assert _TELEMETRY is not None
    out, clock, readings, miner, dcgm = _TELEMETRY
    k, hour = job
    name = clock.days()[k].isoformat() + ("" if hour is None else f"T{hour:02d}")
    done = []
    # A fleet without GPUs (or ASICs) gets no file of that kind rather than an empty one.
    tt, dd = day_rows(clock, readings, miner.asics, k, hour)
    if len(tt):
        path = out / f"telemetry/miner/{name}.jsonl"
        write_day(path, "\n".join(miner.lines(tt, dd)) + "\n")
        done.append(("miner", path, len(tt)))
    tt, dd = day_rows(clock, readings, dcgm.gpus, k, hour)
    if len(tt):
        path = out / f"telemetry/dcgm/{name}.prom"
        write_day(path, dcgm.text(tt, dd))
        done.append(("dcgm", path, len(tt)))
    return done


def _telemetry_jobs(clock, hours: int | None) -> list[tuple[int, int | None]]:
    """(day, hour) of each pair of telemetry files: whole days, or the last `hours` hours one by one."""
    n_days = len(clock.days())
    if hours is None:
        return [(k, None) for k in range(n_days)]
    if hours < 1:
        raise ValueError("telemetry_hours must be at least 1")
    last = n_days * 24
    return [(h // 24, h % 24) for h in range(max(0, last - hours), last)]


def _write_telemetry(out, clock, fleet, readings, rngs, summary, report, workers, hours) -> None:
    global _TELEMETRY
    miner = MinerWriter(clock, fleet, readings, rngs["miner"])
    dcgm = DcgmWriter(clock, fleet, readings, rngs["dcgm"])
    jobs = _telemetry_jobs(clock, hours)
    _TELEMETRY = (out, clock, readings, miner, dcgm)
    try:
        # Formatting text is the slow part and files are independent: fork one worker per core.
        # Each file's bytes depend only on the arrays, so the output is the same for any worker count.
        if workers > 1 and len(jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
                results = pool.map(_telemetry_file, jobs)
                for k, done in enumerate(results):
                    _record(summary, done)
                    report("telemetry files", k + 1, len(jobs))
        else:
            for k, job in enumerate(jobs):
                _record(summary, _telemetry_file(job))
                report("telemetry files", k + 1, len(jobs))
    finally:
        _TELEMETRY = None


def _record(summary: SimulationSummary, done: list[tuple[str, Path, int]]) -> None:
    for kind, path, rows in done:
        summary.add(kind, path, rows)
