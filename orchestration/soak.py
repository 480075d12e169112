"""The soak test: the served platform (code server + daemon) left alone while landing files arrive.

On a scratch database and a scratch data folder, a small simulated fleet's files are dripped into
the landing folder one at a time (written under a temporary name, then renamed, as a feed would),
spread over ``hours / speed`` hours of wall clock. Nothing but the daemon acts: the landing sensor
loads the files, the automation sensor rebuilds marts, forecasts, the plan and anomalies. At the end:

- every file loaded exactly once (``raw.load_log``),
- no failed run,
- each mart equal to a batch rebuild of the same files (row counts and the sums of numeric columns),
- forecasts and the plan materialized after the last file's load,
- the lag from a file's arrival to the next mart materialization (p50, p95),
- no ERROR line in the daemon's or the code server's log.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

from core import db
from core.settings import environment, get_settings

MART_GROUP = "marts"
FORECASTS = ("ml", "forecasts")
PLAN = ("ops", "allocation_plan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ordered(staging: Path) -> tuple[list[Path], list[Path]]:
    """Reference files (first, at once) and daily files in day order."""
    files = sorted(
        p
        for p in staging.rglob("*")
        if p.is_file() and not p.relative_to(staging).as_posix().startswith("labels/")
    )
    reference = [p for p in files if p.relative_to(staging).parts[0] in {"reference", "bitcoin"}]
    daily = sorted((p for p in files if p not in reference), key=lambda p: (p.name, str(p)))
    return reference, daily


def _drop(staging: Path, landing: Path, path: Path) -> tuple[str, float]:
    """Write ``path`` into the landing folder under a temporary name, then rename (atomic)."""
    target = landing / path.relative_to(staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    shutil.copyfile(path, part)
    part.rename(target)
    return str(target), time.time()


def run_soak(
    url: str,
    hours: float = 6,
    speed: float = 360,
    devices: int = 4,
    facilities: int = 1,
    timeout: float = 1800,
    say: Callable[[str], None] = print,
) -> dict:
    """Run the soak on a scratch database of the server of ``url``; returns the figures and checks."""
    home = Path(tempfile.mkdtemp(prefix="hcp-soak-"))
    try:
        return _soak(url, home, hours, speed, devices, facilities, timeout, say)
    finally:
        if not os.environ.get("HCP_SOAK_KEEP"):  # keep the logs for a post-mortem
            shutil.rmtree(home, ignore_errors=True)


def _soak(url, home: Path, hours, speed, devices, facilities, timeout, say) -> dict:
    from ingestion.simulator import simulate

    days = max(1, math.ceil(hours / 24))
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    staging = home / "staging"
    simulate(staging, seed=7, facilities=facilities, devices=devices, days=days, customers=3, end=end)
    reference, daily = _ordered(staging)
    with (
        db.scratch_database(url, "hcp_soak") as scratch,
        environment(
            {
                "HCP_HOME": str(home / "home"),
                "DAGSTER_HOME": str(home / "home" / "dagster"),
                "DATABASE_URL": scratch,
                "HCP_LANDING_SETTLE_SECONDS": "1",
                # its own code-server port: a served platform on this machine holds the default
                "HCP_GRPC_PORT": str(_free_port()),
                "HCP_AUTOMATION": "on",
            }
        ),
    ):
        from core.pii import create_key
        from orchestration.serve import running

        if not get_settings().pii_key:
            create_key()  # the scratch platform's own key, in its scratch data folder
        landing = get_settings().landing
        landing.mkdir(parents=True)
        arrivals: dict[str, float] = {}
        started = time.time()
        with running(scratch, with_webserver=False) as platform:
            say(f"platform up in {time.time() - started:.0f} s; dripping {len(reference) + len(daily)} files")
            for path in reference:
                name, at = _drop(staging, landing, path)
                arrivals[name] = at
            wall = hours * 3600 / speed
            gap = wall / max(1, len(daily))
            for path in daily:
                time.sleep(gap)
                name, at = _drop(staging, landing, path)
                arrivals[name] = at
            last_drop = time.time()
            say(f"all files dropped after {last_drop - started:.0f} s; waiting for the daemon to settle")
            settled = _wait_settled(scratch, arrivals, timeout)
            alive = platform.alive()
        report = _report(scratch, arrivals, platform.logs, last_drop, settled and alive)
        report["wall_seconds"] = round(time.time() - started, 1)
        report["batch_rebuild"] = _compare_with_batch(url, scratch, landing)
        report["checks"]["marts_equal_batch_rebuild"] = report["batch_rebuild"]["equal"]
    report.update(hours=hours, speed=speed, devices=devices, facilities=facilities, files=len(arrivals))
    report["ok"] = all(report["checks"].values())
    return report


def _instance():
    import dagster as dg

    return dg.DagsterInstance.get()


def _materializations(instance, key: tuple[str, ...] | list[str]) -> list[float]:
    import dagster as dg

    result = instance.fetch_materializations(dg.AssetKey(list(key)), limit=10_000)
    return sorted(record.timestamp for record in result.records)


def _mart_keys(instance) -> list[tuple[str, ...]]:
    return [tuple(key.path) for key in instance.get_asset_keys() if key.path[0] == MART_GROUP]


def _busy_runs(instance) -> int:
    import dagster as dg

    from orchestration.sensors import IN_FLIGHT

    return instance.get_runs_count(dg.RunsFilter(statuses=IN_FLIGHT))


def _wait_settled(url: str, arrivals: dict[str, float], timeout: float) -> bool:
    """Until every file has a load, no run is busy, the plan is newer than the last load, and the
    automation sensor has since finished two ticks with nothing left to ask for."""
    instance = _instance()
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        loads = _loads(url)
        loaded = all(name in loads for name in arrivals)
        last_load = max((t for ts in loads.values() for t in ts), default=0)
        plan = _materializations(instance, PLAN)
        done = loaded and _busy_runs(instance) == 0 and plan and plan[-1] > last_load
        if done:
            quiet_since = quiet_since or time.time()
            # a tick that asked for a run made one busy (queued) before it finished: not done then
            if _automation_ticks_since(instance, quiet_since) >= 2:
                return True
        else:
            quiet_since = None
        time.sleep(2)
    return False


def _automation_ticks_since(instance, since: float) -> int:
    """Finished ticks of the automation sensor that started after ``since`` (epoch seconds)."""
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    from orchestration.automation import SENSOR_NAME

    finished = [TickStatus.SKIPPED, TickStatus.SUCCESS, TickStatus.FAILURE]
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    return sum(
        len(instance.get_ticks(state.instigator_origin_id, state.selector_id, after=since, statuses=finished))
        for state in states
        if state.instigator_name == SENSOR_NAME
    )


def _loads(url: str) -> dict[str, list[float]]:
    """Finish times of the succeeded loads of each source file."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select source_file, extract(epoch from finished_at)::float8 from raw.load_log"
            " where status = 'succeeded'"
        ).fetchall()
    loads: dict[str, list[float]] = {}
    for name, finished in rows:
        loads.setdefault(name, []).append(finished)
    return loads


def _report(url: str, arrivals: dict[str, float], logs: Path, last_drop: float, settled: bool) -> dict:
    import dagster as dg

    instance = _instance()
    loads = _loads(url)
    counts = {name: len(loads.get(name, [])) for name in arrivals}
    failed_runs = instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    mart_times = sorted(t for key in _mart_keys(instance) for t in _materializations(instance, key))
    lags = []
    for name, arrived in arrivals.items():
        finished = min(loads.get(name, [math.inf]))
        after = [t for t in mart_times if t >= finished]
        if after:
            lags.append(after[0] - arrived)
    last_load = max((t for ts in loads.values() for t in ts), default=0)
    forecasts, plan = _materializations(instance, FORECASTS), _materializations(instance, PLAN)
    errors = log_errors(logs)
    return {
        "checks": verdict(counts, failed_runs, forecasts, plan, last_load, errors, settled),
        "files_not_loaded_once": {name: count for name, count in counts.items() if count != 1},
        "failed_runs": failed_runs,
        "failed_run_errors": failed_run_errors(instance),
        "runs": instance.get_runs_count(),
        "lag_file_to_mart_seconds": {
            "p50": round(float(np.percentile(lags, 50)), 1) if lags else None,
            "p95": round(float(np.percentile(lags, 95)), 1) if lags else None,
            "files": len(lags),
        },
        # how long after the last file's load the forecasts and the plan were rebuilt
        "fresh_after_last_load_seconds": {
            "forecasts": round(forecasts[-1] - last_load, 1) if forecasts else None,
            "plan": round(plan[-1] - last_load, 1) if plan else None,
        },
        "run_phases_seconds": run_phases(instance),
        "settle_after_last_file_seconds": round(
            max(mart_times[-1:] + plan[-1:] or [last_drop]) - last_drop, 1
        ),
        "log_errors": errors[:20],
    }


def failed_run_errors(instance) -> list[dict]:
    """Each failed run's job, selected assets and the messages of its ERROR events."""
    import dagster as dg

    failed = []
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]), limit=20):
        errors = [_error_text(event) for event in instance.all_logs(run.run_id) if event.level >= 40]
        assets = sorted("/".join(key.path) for key in run.asset_selection or ())
        failed.append({"run_id": run.run_id, "job": run.job_name, "assets": assets, "errors": errors[:5]})
    return failed


def _error_text(event) -> str:
    error = getattr(event.dagster_event and event.dagster_event.event_specific_data, "error", None)
    if error is None:
        return (
            f"{event.step_key}: {event.dagster_event.message if event.dagster_event else event.user_message}"
        )
    chain = []  # Dagster's wrapper first, the user code's error in its causes
    while error is not None:
        chain.append(f"{error.cls_name}: {error.message.strip()}")
        error = error.cause
    return f"{event.step_key}: " + " <- ".join(chain)[:1500]


def log_errors(logs: Path) -> list[str]:
    """The ERROR lines of the daemon's and the code server's logs."""
    errors = []
    for log in ("daemon.log", "code_server.log"):
        path = logs / log
        if path.exists():
            errors += [
                f"{log}: {line.strip()[:300]}"
                for line in path.read_text(errors="replace").splitlines()
                if " - ERROR - " in line
            ]
    return errors


def verdict(
    loads_per_file: dict[str, int],
    failed_runs: int,
    forecasts: list[float],
    plan: list[float],
    last_load: float,
    errors: list[str],
    settled: bool,
) -> dict[str, bool]:
    """The soak's checks (all must hold), from what it observed: succeeded loads per dropped file,
    failed runs, the materialization times of the forecasts and the plan, the last load's finish
    time, the logs' ERROR lines, and whether the daemon settled before the timeout."""
    return {
        "settled": settled,
        "every_file_loaded_once": all(count == 1 for count in loads_per_file.values()),
        "no_failed_runs": failed_runs == 0,
        "forecasts_fresh": bool(forecasts) and forecasts[-1] >= last_load,
        "plan_fresh": bool(plan) and plan[-1] >= last_load,
        "no_errors_in_logs": not errors,
    }


def _phase_times(instance, run_id: str) -> dict[str, float]:
    """First time of each run lifecycle event and of the first step start, last step end."""
    import dagster as dg

    kinds = {
        dg.DagsterEventType.RUN_STARTING: "starting",
        dg.DagsterEventType.RUN_START: "started",
        dg.DagsterEventType.STEP_START: "step",
        dg.DagsterEventType.RUN_SUCCESS: "ended",
        dg.DagsterEventType.RUN_FAILURE: "ended",
    }
    times: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type=set(kinds)):
        name = kinds[entry.dagster_event.event_type]
        times[name] = min(times.get(name, math.inf), entry.timestamp)
    return times


def run_phases(instance) -> dict[str, dict]:
    """Where a run's time goes, per job (median, max and count over finished runs, seconds):
    ``queued`` (created to launched), ``launch`` (launched to started: a new process importing the
    code location and loading the definitions), ``execute`` (started to ended: the steps, dbt
    included) and ``total``."""
    phases: dict[str, dict[str, list[float]]] = {}
    for record in instance.get_run_records():
        times = _phase_times(instance, record.dagster_run.run_id)
        if not {"starting", "started", "ended"} <= times.keys():
            continue
        created = record.create_timestamp.timestamp()
        job = phases.setdefault(record.dagster_run.job_name, {})
        for name, value in (
            ("queued", times["starting"] - created),
            ("launch", times["started"] - times["starting"]),
            ("execute", times["ended"] - times["started"]),
            ("total", times["ended"] - created),
        ):
            job.setdefault(name, []).append(value)
    return {
        job: {"runs": len(values["total"]), **{
            name: {"p50": round(float(np.median(v)), 1), "max": round(max(v), 1)}
            for name, v in values.items()
        }}
        for job, values in sorted(phases.items())
    }  # fmt: skip


def mart_fingerprint(url: str) -> dict[str, dict]:
    """Row count and the sum of each numeric column, per table of the marts schema."""
    out = {}
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
            " and table_type = 'BASE TABLE' order by 1"
        )]  # fmt: skip
        for table in tables:
            columns = [r[0] for r in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'marts'"
                " and table_name = %s and data_type in ('numeric', 'double precision', 'real', 'integer',"
                " 'bigint', 'smallint') order by ordinal_position", (table,)
            )]  # fmt: skip
            sums = ", ".join(f'round(coalesce(sum("{c}"), 0)::numeric, 6)' for c in columns)
            query = f'select count(*){", " + sums if sums else ""} from marts."{table}"'
            row = conn.execute(query).fetchone()
            out[table] = {"rows": row[0], **{c: str(v) for c, v in zip(columns, row[1:], strict=True)}}
    return out


def _compare_with_batch(server_url: str, served: str, landing: Path) -> dict:
    """Load the same files in one batch into another scratch database, build the marts with dbt,
    and compare the fingerprints."""
    from core.dbt import run_dbt
    from ingestion.loader import ingest_folder

    with db.scratch_database(server_url, "hcp_soak_batch") as batch:
        ingest_folder(batch, landing)
        run_dbt(batch, "run")
        return compare_fingerprints(mart_fingerprint(batch), mart_fingerprint(served))


def compare_fingerprints(expected: dict[str, dict], actual: dict[str, dict]) -> dict:
    """Whether the served marts equal the batch rebuild (every table's row count and sums), and the
    first differing tables."""
    differing = sorted(t for t in expected.keys() | actual.keys() if expected.get(t) != actual.get(t))
    return {
        "equal": not differing,
        "tables": len(expected),
        "differing": {t: {"batch": expected.get(t), "served": actual.get(t)} for t in differing[:5]},
    }


def since(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)
