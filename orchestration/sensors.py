"""The landing-folder sensor: asks for one ingestion run per day (and one for the reference data) with
exactly the files it found, of every raw table at once, once per file content. Few runs matter: each
is a process that imports the whole code location.

- A file is taken once it has settled: not a temporary name (``.name``, ``*.tmp``, ``*.part``;
  writers write under such a name and rename) and not modified for ``HCP_LANDING_SETTLE_SECONDS``.
- Idempotent by checksum: a file whose SHA-256 already has a succeeded load (``raw.load_log``) or was
  already requested is skipped; a changed file is requested again (the loader dedups its rows).
- Symlinks (files or folders) are refused, and a file no source claims is reported, each once, in the
  tick's log; neither stops the other files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import psycopg

from assets.automation import sensor_status
from assets.ingestion import (
    RAW_SOURCES,
    RawSource,
    daily_partitions,
    ingest_daily_job,
    ingest_reference_job,
    raw_load_run_config,
)
from assets.resources import LandingResource, PostgresResource
from core.settings import get_settings

_DAY = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload", ".swp")
NOT_INGESTED = ("labels/",)  # ground truth of the simulator, never loaded
PENDING_SECONDS = 900  # a requested file not loaded by then is asked again, MAX_RETRIES times
MAX_RETRIES = 1
LANDING_TAG = "hcp/landing"  # one landing load at a time (dagster.yaml tag concurrency)
SOURCE_OF = {source.table: source for source in RAW_SOURCES}


def route(root: Path, path: Path) -> tuple[RawSource, str | None] | None:
    """The raw source a landing file feeds and its partition day (None for reference data)."""
    relative = path.relative_to(root)
    for source in RAW_SOURCES:
        if not source.daily:
            if any(relative.match(pattern) for pattern in source.globs):
                return source, None
            continue
        match = _DAY.search(path.name)
        if not match:
            continue
        iso = "-".join(match.groups())
        patterns = [p.format(iso=iso, ymd=iso.replace("-", "")) for p in source.globs]
        if any(path in root.glob(pattern) for pattern in patterns):
            return source, iso
    return None


def is_temporary(name: str) -> bool:
    """A name writers use while a file is incomplete."""
    return name.startswith(".") or name.endswith(TEMPORARY_SUFFIXES)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(root: Path) -> tuple[list[Path], dict[str, str]]:
    """Regular files under ``root`` (temporary names left out) and the refused paths with reasons."""
    files, refused = [], {}
    for folder, dirs, names in os.walk(root, followlinks=False):
        for name in list(dirs):
            if (Path(folder) / name).is_symlink():
                refused[str(Path(folder) / name)] = "symlinked folder refused"
                dirs.remove(name)
            elif name.startswith("."):
                dirs.remove(name)
        for name in names:
            path = Path(folder) / name
            if is_temporary(name):
                continue
            if path.is_symlink():
                refused[str(path)] = "symlink refused"
            elif path.is_file():
                files.append(path)
    return sorted(files), refused


def _loaded_checksums(url: str, paths: list[str]) -> set[tuple[str, str]]:
    """(source_file, sha256) pairs among ``paths`` with a succeeded load."""
    if not paths:
        return set()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select source_file, file_sha256 from raw.load_log"
            " where status = 'succeeded' and source_file = any(%s)",
            (paths,),
        ).fetchall()
    return {(row[0], row[1]) for row in rows}


def landing_requests(
    root: Path,
    cursor: dict,
    loaded: Callable[[list[str]], set[tuple[str, str]]],
    settle_seconds: float,
    now: float,
    hold: bool = False,
    partition_days: tuple[str, str] | None = None,
) -> tuple[list[dg.RunRequest], dict, dict[str, str]]:
    """The run requests for new or changed settled files; returns (requests, new cursor, reports).

    ``cursor``: ``{"files": {path: [stamp, sha256]}, "requested": {path: [sha256, table, time]},
    "reported": {path: reason}}``. ``loaded`` maps a list of paths to their loaded (path, sha256)
    pairs. A table is requested only once the tables it references have no load outstanding.
    ``hold``: a load run is still queued or running; new files wait for a later tick, so the files
    that arrive meanwhile go into one run rather than one run each (loads run one at a time anyway).
    ``partition_days``: the first and last daily partition; a file of a later day waits for its day
    to begin (a feed ahead of UTC), one of an earlier day is refused, and neither holds the others.
    """
    known: dict[str, list[str]] = cursor.get("files", {})
    reported: dict[str, str] = cursor.get("reported", {})
    files, refused = scan(root)
    candidates: dict[str, tuple[Path, str, str, RawSource, str | None]] = {}
    reports = {}
    for path in files:
        stat = path.stat()
        stamp = f"{stat.st_mtime_ns}:{stat.st_size}"  # size too: coarse mtimes miss quick rewrites
        previous = known.get(str(path))
        if previous and previous[0] == stamp:
            continue
        if now - stat.st_mtime < settle_seconds:
            continue  # may still be written; taken on a later tick
        relative = path.relative_to(root).as_posix()
        routed = route(root, path)
        if routed is None:
            if not relative.startswith(NOT_INGESTED):
                refused[str(path)] = "no raw source takes this file name"
            continue
        outside = _outside_partitions(routed[1], partition_days)
        if outside:
            refused[str(path)] = outside  # looked at again every tick: a later day begins
            continue
        digest = sha256(path)
        if previous and previous[1] == digest:
            known[str(path)] = [stamp, digest]  # touched, same content
            continue
        candidates[str(path)] = (path, stamp, digest, *routed)
    requested: dict[str, list] = cursor.get("requested", {})  # path -> [sha256, table, requested at]
    retries: dict[str, int] = cursor.get("retries", {})
    done = loaded(sorted(set(candidates) | set(requested)))
    # Loads still outstanding (requested, not loaded yet, for at most PENDING_SECONDS: a failed
    # load must not hold its dependents for ever).
    for name, entry in list(requested.items()):
        if (name, entry[0]) in done:
            del requested[name]
        elif now - entry[2] >= PENDING_SECONDS:
            del requested[name]
            if retries.get(name, 0) < MAX_RETRIES:  # its run failed or never ran: asked again next tick
                known.pop(name, None)
                retries[name] = retries.get(name, 0) + 1
    busy = {entry[1] for entry in requested.values()}
    batches: dict[str | None, list[tuple[str, str, str]]] = defaultdict(list)
    for name, (_, _, digest, source, day) in candidates.items():
        if (name, digest) not in done:
            batches[day].append((name, digest, source.table))
    deferred: set[str] = set()
    for day, batch in batches.items():
        # A table waits for the tables it references (devices after facilities, telemetry after
        # devices, ...) while they are loading or due in another run of this tick; in the same run
        # the steps are ordered by the asset graph, as a batch load orders them.
        elsewhere = busy | {t for other, b in batches.items() if other != day for _, _, t in b}
        waits = {t for _, _, t in batch if set(SOURCE_OF[t].deps) & elsewhere}
        while True:  # and so do the tables that reference a waiting one
            more = {t for _, _, t in batch if set(SOURCE_OF[t].deps) & waits} - waits
            if not more:
                break
            waits |= more
        deferred |= {name for name, _, table in batch if table in waits}
        batch[:] = [entry for entry in batch if entry[2] not in waits]
    if hold:
        deferred = set(candidates)
        batches.clear()
    for name in deferred:
        candidates.pop(name)  # taken again on a later tick
    for name, (_, stamp, digest, source, _) in candidates.items():
        known[name] = [stamp, digest]
        if (name, digest) not in done:
            requested[name] = [digest, source.table, now]
    requests = [
        _request(day, [(name, f"{digest}:{retries.get(name, 0)}", table) for name, digest, table in batch])
        for day, batch in sorted(batches.items(), key=str)
        if batch
    ]
    for name, reason in refused.items():
        if reported.get(name) != reason:
            reports[name] = reason
    present = {str(p) for p in files}
    new_cursor = {
        "files": {name: value for name, value in known.items() if name in present},
        "requested": requested,
        "retries": {name: count for name, count in retries.items() if name in present},
        "reported": {name: reason for name, reason in {**reported, **refused}.items() if name in refused},
    }
    return requests, new_cursor, reports


def _outside_partitions(day: str | None, partition_days: tuple[str, str] | None) -> str | None:
    """Why a file of ``day`` cannot be loaded now (no daily partition for it), or None."""
    if day is None or partition_days is None:
        return None
    first, last = partition_days
    if day > last:
        return f"{day} has no partition yet (the last is {last}): loaded once that day begins (UTC)"
    if day < first:
        return f"{day} is before the first partition, {first} (HCP_PARTITIONS_START)"
    return None


def _request(day: str | None, batch: list[tuple[str, str, str]]) -> dg.RunRequest:
    """One run for the batch's files of every raw table (of one day, or the reference data)."""
    files: dict[str, list[str]] = defaultdict(list)
    for name, _, table in batch:
        files[table].append(name)
    key = hashlib.sha256(json.dumps(sorted(batch)).encode()).hexdigest()[:16]
    config: dict = {"ops": {}}
    for table, names in sorted(files.items()):
        config["ops"].update(raw_load_run_config(table, sorted(names))["ops"])
    return dg.RunRequest(
        run_key=f"{day or 'reference'}:{key}",
        job_name=(ingest_daily_job if day else ingest_reference_job).name,
        asset_selection=[dg.AssetKey(["raw", table]) for table in sorted(files)],
        partition_key=day,
        run_config=config,
        tags={LANDING_TAG: "load", "hcp/raw_tables": ",".join(sorted(files)),
              "hcp/landing_files": str(len(batch))},
    )  # fmt: skip


IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]  # fmt: skip


def _load_in_flight(instance: dg.DagsterInstance) -> bool:
    """Whether a landing load run is queued, starting or running."""
    return instance.get_runs_count(dg.RunsFilter(tags={LANDING_TAG: "load"}, statuses=IN_FLIGHT)) > 0


@dg.sensor(
    name="landing_folder_sensor",
    minimum_interval_seconds=15,
    default_status=sensor_status(),
    jobs=[ingest_daily_job, ingest_reference_job],
    description="Loads new or changed landing files: one run per day (and one for reference data) with exactly those files.",
)
def landing_folder_sensor(
    context: dg.SensorEvaluationContext, landing: LandingResource, postgres: PostgresResource
):
    root = landing.path()
    if not root.exists():
        return dg.SkipReason(f"landing folder {root} does not exist yet")
    cursor = json.loads(context.cursor) if context.cursor else {}
    url = postgres.get_url()
    days = daily_partitions()
    requests, new_cursor, reports = landing_requests(
        root,
        cursor,
        lambda paths: _loaded_checksums(url, paths),
        get_settings().landing_settle_seconds,
        time.time(),
        hold=_load_in_flight(context.instance),
        partition_days=(days.get_first_partition_key(), days.get_last_partition_key()),
    )
    for name, reason in reports.items():
        context.log.warning(f"{name}: {reason}")
    context.update_cursor(json.dumps(new_cursor))
    return requests or dg.SkipReason("no new landing files")
