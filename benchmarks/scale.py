"""Scale benchmark: one hourly cycle of a simulated fleet, at several fleet sizes, on one PostgreSQL.

For each fleet size ``run_benchmark`` simulates the fleet with the simulator (real landing formats),
keeps the last ``history_hours`` hours before the cycle hour as history and loads them with the real
loader (`ingestion.loader.ingest_folder`), builds the marts, trains the forecast models and fits the anomaly detector
(timed apart from the cycle). Then the cycle hour's landing files arrive and ONE hourly cycle is timed, stage by stage,
each stage in its own process so its peak RSS is its own (``os.wait4``):

    load (ingest_folder)  ->  marts (dbt run)  ->  anomalies  ->  forecasts  ->  plan

(the last three materialize the real Dagster assets). It reports seconds per stage, rows per second,
peak RSS per process, database size per day of history, and the ratio of the per-device cost of the
largest fleet to that of the smallest (goal <= 1.2; goals at 300k: cycle < 120 s, no process over 4 GB).

Telemetry (miner JSON lines, DCGM text) is split by the sample time into history and cycle hour;
reference, price, Bitcoin, site-meter and workload files are small and go with the history.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from core.db import scratch_database

STAGES = ("load", "marts", "anomalies", "forecasts", "plan")
DEFAULT_END = datetime(2026, 3, 2, tzinfo=UTC)
GOAL_RATIO, GOAL_CYCLE_S, GOAL_RSS_BYTES = 1.2, 120.0, 4 * 1024**3

Progress = Callable[[str], None] | None
_WHEN = re.compile(rb'"When":(\d+)')


# --- the stages, run in a child process ------------------------------------------------------------


def _stage(stage: str, url: str, folder: str, target: str) -> dict:
    """Run one stage against ``url``; returns {"rows": rows it handled (load: rows in)}."""
    if stage == "load":
        from ingestion.loader import ingest_folder

        return {"rows": sum(r.rows_in for r in ingest_folder(url, folder))}
    if stage == "marts":
        from core.dbt import run_dbt

        run_dbt(url, "run", target_path=Path(target))
        return {"rows": 0}
    if stage == "anomalies":
        # the history stands for hours a running platform scored hour by hour: the first run (the
        # detector's fit) scores the last hour only, not all of it (6 h of 300,000 devices at
        # ~15,000 rows/s is over an hour); the cycle's run scores what is new since, as in production
        os.environ.setdefault("HCP_ANOMALY_BACKFILL_HOURS", "1")
    import dagster as dg

    from assets.allocation import allocation_plan
    from assets.anomalies import anomalies
    from assets.forecasting import forecast_models, forecasts
    from assets.resources import PostgresResource

    chosen = {"anomalies": [anomalies], "forecasts": [forecasts], "plan": [allocation_plan],
              "models": [forecast_models]}[stage]  # fmt: skip
    # one Dagster instance for all the stages of a fleet: the anomalies asset reads where its last
    # run stopped from its materializations, as it does in production
    home = Path(target) / "dagster"
    home.mkdir(exist_ok=True)
    instance = dg.DagsterInstance.local_temp(tempdir=str(home))
    result = dg.materialize(
        chosen, resources={"postgres": PostgresResource.at(url)}, instance=instance, raise_on_error=True
    )
    rows = 0
    if stage == "anomalies":  # the telemetry rows it read and scored (the new hour and a lead-in)
        (event,) = result.get_asset_materialization_events()
        rows = event.materialization.metadata["rows_scored"].value
    return {"rows": rows, "success": result.success}


def _run_child(stage: str, url: str, folder: Path, target: Path) -> dict:
    """Run a stage in a new process; returns its seconds, peak RSS (bytes) and what it reported."""
    out = target / f"{stage}.json"
    started = time.perf_counter()
    # a day of 30,000 miners is a 4.8 GB file, over the loader's default size limit (a guard against
    # runaway feeds, HCP_INGEST_MAX_FILE_MB): the benchmark's own files are trusted
    env = {**os.environ, "HCP_INGEST_MAX_FILE_MB": "1000000"}
    # stderr to a file, not a pipe: nobody reads a pipe while wait4 waits, and a child that logs more
    # than the pipe holds (64 KB; Dagster logs every event) would block on it for ever
    log = target / f"{stage}.log"
    with log.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.scale", stage, url, str(folder), str(target), str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = log.read_text(errors="replace")
    if child.returncode != 0:
        raise RuntimeError(f"stage {stage} failed (exit {child.returncode}; log {log}):\n{stderr[-4000:]}")
    # ru_maxrss is in KiB on Linux
    return {"seconds": seconds, "peak_rss_bytes": usage.ru_maxrss * 1024, **json.loads(out.read_text())}


# --- landing files: history and the cycle hour ----------------------------------------------------


def _split_lines(path: Path, history: Path, hour: Path, since: int, cycle: int, when) -> tuple[int, int]:
    """Copy the lines of `path` with time in [since, cycle) to `history`, in [cycle, cycle + 1 h) to `hour`;
    lines without a time (comments) go to both; a side that gets no timed line gets no file. Returns
    (history rows, hour rows)."""
    history.parent.mkdir(parents=True, exist_ok=True)
    hour.parent.mkdir(parents=True, exist_ok=True)
    counts = [0, 0]
    with path.open("rb") as src, history.open("wb") as old, hour.open("wb") as new:
        for line in src:
            at = when(line)
            if at is None:
                old.write(line)
                new.write(line)
            elif since <= at < cycle:
                old.write(line)
                counts[0] += 1
            elif cycle <= at < cycle + 3600:
                new.write(line)
                counts[1] += 1
    for written, count in ((history, counts[0]), (hour, counts[1])):
        if count == 0:  # a day file outside the window: no file rather than an empty one
            written.unlink()
    return counts[0], counts[1]


def _miner_time(line: bytes) -> int | None:
    match = _WHEN.search(line)
    return int(match.group(1)) if match else None


def _dcgm_time(line: bytes) -> int | None:
    if line.startswith(b"#") or not line.strip():
        return None
    return int(line.rsplit(None, 1)[1]) // 1000


def _count_rows(path: Path, kind: str) -> int:
    """Telemetry rows in a file: its lines (miner) or its lines with a time (DCGM)."""
    with path.open("rb") as src:
        if kind == "miner":
            return sum(block.count(b"\n") for block in iter(lambda: src.read(1 << 24), b""))
        return sum(1 for line in src if _dcgm_time(line) is not None)


_HOURLY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$")


def split_landing(sim: Path, history: Path, hour: Path, cycle_start: datetime, history_hours: int) -> dict:
    """Split a simulated landing folder into `history` and `hour` folders; returns telemetry line counts
    (a miner line is one row; DCGM has a line per metric, GPU and time).

    Daily telemetry files are split line by line by sample time; hourly ones (the simulator's
    ``telemetry_hours``) are moved whole by the hour in their name."""
    since, cycle = (
        int((cycle_start - timedelta(hours=history_hours)).timestamp()),
        int(cycle_start.timestamp()),
    )
    rows = {"history": 0, "hour": 0}
    for path in sorted(sim.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(sim)
        kind = rel.parts[1] if rel.parts[0] == "telemetry" and len(rel.parts) > 2 else None
        if kind in ("miner", "dcgm") and _HOURLY.match(rel.stem):
            at = int(datetime.strptime(rel.stem, "%Y-%m-%dT%H").replace(tzinfo=UTC).timestamp())
            side = "hour" if at == cycle else "history" if since <= at < cycle else None
            if side:
                rows[side] += _count_rows(path, kind)
                moved = (hour if side == "hour" else history) / rel
                moved.parent.mkdir(parents=True, exist_ok=True)
                path.rename(moved)
        elif kind in ("miner", "dcgm"):
            when = _miner_time if kind == "miner" else _dcgm_time
            hour_name = rel.with_name(f"{rel.stem}T{cycle_start:%H}{rel.suffix}")
            old, new = _split_lines(path, history / rel, hour / hour_name, since, cycle, when)
            rows["history"] += old
            rows["hour"] += new
        else:
            (history / rel).parent.mkdir(parents=True, exist_ok=True)
            path.rename(history / rel)
    return rows


# --- one fleet ----------------------------------------------------------------------------------


def _database_bytes(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("select pg_database_size(current_database())").fetchone()[0]


def _one_fleet(url: str, devices: int, history_hours: int, end: datetime, work: Path, say) -> dict:
    from ingestion.simulator.run import simulate

    cycle_start = end - timedelta(hours=1)
    days = math.ceil((history_hours + 1) / 24)
    sim, history, hour, target = (work / name for name in ("sim", "history", "hour", "target"))
    target.mkdir(parents=True)
    say(f"{devices} devices: simulating {days} day(s), telemetry of the last {history_hours + 1} h")
    started = time.perf_counter()
    # the telemetry an hour at a time, of the hours used only: the simulator holds about 1 KB per
    # row of the text it formats (a day of 30,000 devices in one piece peaked at 17.7 GB; a day of
    # 300,000 is about 50 GB of files); one worker, as two each holding an hour of 300,000 devices
    # and the fleet's arrays come close to 24 GB
    # in a process of its own (spawned, not forked), so the benchmark does not keep its memory
    context = multiprocessing.get_context("spawn")
    child = context.Process(
        target=simulate,
        args=(sim,),
        kwargs={
            "devices": devices, "days": days, "end": end, "workers": 1, "telemetry_hours": history_hours + 1,
        },
    )  # fmt: skip
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"simulating {devices} devices failed (exit {child.exitcode})")
    simulate_seconds = time.perf_counter() - started
    rows = split_landing(sim, history, hour, cycle_start, history_hours)
    with scratch_database(url, "hcp_bench_scale") as scratch:
        empty_bytes = _database_bytes(scratch)
        say(f"{devices} devices: loading {history_hours} h of history ({rows['history']:,} telemetry lines)")
        prep = {"history_load": _run_child("load", scratch, history, target)}
        prep["history_marts"] = _run_child("marts", scratch, history, target)
        prep["forecast_models"] = _run_child("models", scratch, history, target)
        # the detector is fitted (daily) and the history scored before the cycle, as in production
        prep["anomalies_fit"] = _run_child("anomalies", scratch, history, target)
        history_bytes = _database_bytes(scratch) - empty_bytes
        stages = {}
        for stage in STAGES:
            say(f"{devices} devices: cycle stage {stage}")
            stages[stage] = _run_child(stage, scratch, hour, target)
    cycle = sum(s["seconds"] for s in stages.values())
    return {
        "devices": devices,
        "history_hours": history_hours,
        "simulate_seconds": simulate_seconds,
        "telemetry_rows": rows,
        "history": {
            k: {"seconds": v["seconds"], "peak_rss_bytes": v["peak_rss_bytes"], "rows": v["rows"]}
            for k, v in prep.items()
        },
        "history_rows_per_second": prep["history_load"]["rows"] / prep["history_load"]["seconds"],
        "database_bytes_per_day": history_bytes * 24 / history_hours,
        "stages": stages,
        "cycle_seconds": cycle,
        "load_rows_per_second": stages["load"]["rows"] / stages["load"]["seconds"],
        "cycle_rows_per_second": stages["load"]["rows"] / cycle,
        "peak_rss_bytes": max(s["peak_rss_bytes"] for s in stages.values()),
        "seconds_per_device": cycle / devices,
    }


def run_benchmark(
    url: str,
    devices: Sequence[int] = (30_000, 300_000),
    hours: Sequence[int] = (24, 6),
    progress: Progress = None,
    end: datetime = DEFAULT_END,
) -> dict:
    """One timed hourly cycle per fleet size (history of hours[i] hours before it), in scratch databases
    on the server of `url`, all in one run; the smallest fleet is the baseline of the per-device ratio."""
    say = progress or (lambda _message: None)
    fleets = []
    for i, n in enumerate(devices):
        with tempfile.TemporaryDirectory(prefix="hcp-bench-scale-") as tmp:
            fleets.append(_one_fleet(url, n, hours[min(i, len(hours) - 1)], end, Path(tmp), say))
    base, largest = fleets[0], fleets[-1]
    ratio = largest["seconds_per_device"] / base["seconds_per_device"]
    return {
        "fleets": fleets,
        "per_device_ratio": ratio,
        "load_average": os.getloadavg()[0],
        "goals": {
            "per_device_ratio_ok": ratio <= GOAL_RATIO,
            "cycle_ok": largest["cycle_seconds"] < GOAL_CYCLE_S,
            "rss_ok": largest["peak_rss_bytes"] <= GOAL_RSS_BYTES,
        },
    }


def format_table(result: dict) -> str:
    """The benchmark result as a plain-text table for humans."""
    fleets = result["fleets"]
    width = 16
    lines = [f"{'':34}" + "".join(f"{f['devices']:>{width},}" for f in fleets)]

    def row(label: str, cell: Callable[[dict], str]) -> None:
        lines.append(f"{label:34}" + "".join(f"{cell(f):>{width}}" for f in fleets))

    row("history hours", lambda f: str(f["history_hours"]))
    row("history telemetry lines", lambda f: f"{f['telemetry_rows']['history']:,}")
    row("history load rows/s", lambda f: f"{f['history_rows_per_second']:,.0f}")
    row("database MB per day of history", lambda f: f"{f['database_bytes_per_day'] / 1e6:,.0f}")
    row("cycle hour telemetry lines", lambda f: f"{f['telemetry_rows']['hour']:,}")
    row("cycle hour rows loaded (rows in)", lambda f: f"{f['stages']['load']['rows']:,}")
    for stage in STAGES:
        row(f"  {stage} s", lambda f, s=stage: f"{f['stages'][s]['seconds']:.1f}")
    row("cycle s", lambda f: f"{f['cycle_seconds']:.1f}")
    row("load rows/s (cycle hour)", lambda f: f"{f['load_rows_per_second']:,.0f}")
    for stage in STAGES:
        row(f"  {stage} peak RSS MB", lambda f, s=stage: f"{f['stages'][s]['peak_rss_bytes'] / 2**20:,.0f}")
    row("ms per device per cycle", lambda f: f"{f['seconds_per_device'] * 1000:.3f}")
    goals = result["goals"]
    lines.append(
        f"per-device cost ratio {fleets[-1]['devices']:,} / {fleets[0]['devices']:,}: "
        f"{result['per_device_ratio']:.2f} (goal <= {GOAL_RATIO}: {'ok' if goals['per_device_ratio_ok'] else 'OVER'})"
    )
    lines.append(
        f"cycle at {fleets[-1]['devices']:,}: {fleets[-1]['cycle_seconds']:.1f} s (goal < {GOAL_CYCLE_S:.0f} s: "
        f"{'ok' if goals['cycle_ok'] else 'OVER'}), peak RSS {fleets[-1]['peak_rss_bytes'] / 2**30:.2f} GB "
        f"(goal <= 4 GB: {'ok' if goals['rss_ok'] else 'OVER'}); load average {result['load_average']:.1f}"
    )
    return "\n".join(lines)


def peak_rss_bytes() -> int:
    """This process's peak RSS since it began its program, or that of its reaped children (dbt),
    whichever is higher. Not ``ru_maxrss`` of the process itself: it keeps the peak of the parent's
    memory it was forked from, so every stage would report the benchmark's own size."""
    hwm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)


if __name__ == "__main__":  # the child of _run_child: python -m benchmarks.scale STAGE URL FOLDER TARGET OUT
    stage_name, db_url, landing, target_dir, out_file = sys.argv[1:6]
    report = _stage(stage_name, db_url, landing, target_dir)
    Path(out_file).write_text(json.dumps({**report, "peak_rss_bytes": peak_rss_bytes()}))
