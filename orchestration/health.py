"""``hcp status``: is the served platform healthy? For people and for monitoring probes.

Reports the database server, pending migrations, the last load and its lag per source kind, the
latest failing data-quality checks, Dagster runs that failed in the last 24 hours and the daemon's
heartbeats. ``healthy`` is false when the server is down, a migration is pending, a check fails, a
run failed in 24 h, or the daemon has not beaten in the last ``HEARTBEAT_STALE`` seconds.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import psycopg

HEARTBEAT_STALE = 300


def platform_status(url: str) -> dict:
    """The status figures and ``healthy``; never raises for a down component, it reports it."""
    status: dict = {"database": {"up": False}, "problems": []}
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            status["database"] = {
                "up": True,
                "server_version": conn.execute("show server_version").fetchone()[0],
            }
            status["migrations"] = _migrations(conn)
            status["sources"] = _sources(conn)
            status["failing_checks"] = _failing_checks(conn)
    except psycopg.Error as err:
        status["database"]["error"] = str(err).strip()
        status["problems"].append("database down")
    status.update(_dagster())
    problems = status["problems"]
    if status.get("migrations", {}).get("pending"):
        problems.append(f"{len(status['migrations']['pending'])} migrations pending")
    if status.get("failing_checks"):
        problems.append(f"{len(status['failing_checks'])} failing checks")
    if status.get("failed_runs_24h"):
        problems.append(f"{status['failed_runs_24h']} failed runs in 24 h")
    if not status.get("daemon", {}).get("alive"):
        problems.append("daemon heartbeat missing or stale")
    status["healthy"] = not problems
    return status


def _migrations(conn: psycopg.Connection) -> dict:
    from core.migrate import applied, available

    done = applied(conn)
    pending = [m.version for m in available() if m.version not in done]
    return {"applied": max(done, default=None), "pending": pending}


def _sources(conn: psycopg.Connection) -> dict:
    rows = conn.execute(
        "select kind, max(finished_at), count(*) filter (where status = 'failed')"
        " from raw.load_log group by kind order by kind"
    ).fetchall()
    now = datetime.now(UTC)
    return {
        kind: {
            "last_load": last.isoformat() if last else None,
            "lag_seconds": round((now - last).total_seconds()) if last else None,
            "failed_loads": failed,
        }
        for kind, last, failed in rows
    }


def _failing_checks(conn: psycopg.Connection) -> list[dict]:
    """The latest result of each (suite, asset), where it failed with ERROR severity."""
    rows = conn.execute(
        "select suite, asset_key, partition_key, unexpected_count, checked_at from ("
        " select distinct on (suite, asset_key) * from ops.check_results"
        " order by suite, asset_key, checked_at desc) latest"
        " where not passed and severity = 'ERROR'"
    ).fetchall()
    return [
        {"suite": s, "asset": a, "partition": p, "unexpected": n, "checked_at": t.isoformat()}
        for s, a, p, n, t in rows
    ]


def _dagster() -> dict:
    """Failed runs in 24 h and daemon heartbeats, from Dagster's storage (when DAGSTER_HOME is set)."""
    if not os.environ.get("DAGSTER_HOME"):
        return {"daemon": {"alive": False, "error": "DAGSTER_HOME not set"}}
    import dagster as dg

    try:
        with dg.DagsterInstance.get() as instance:
            since = datetime.now(UTC) - timedelta(hours=24)
            failed = instance.get_runs_count(
                dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], updated_after=since)
            )
            beats = instance.get_daemon_heartbeats()
    except Exception as err:  # noqa: BLE001 - status reports, never raises
        return {"daemon": {"alive": False, "error": str(err).strip()[:300]}}
    now = time.time()
    ages = {name: round(now - beat.timestamp) for name, beat in beats.items()}
    alive = bool(ages) and all(age < HEARTBEAT_STALE for age in ages.values())
    return {"failed_runs_24h": failed, "daemon": {"alive": alive, "heartbeat_age_seconds": ages}}
