"""Dagster's instance: DAGSTER_HOME under the data folder, its storage in the platform's PostgreSQL.

Runs, event logs and schedule/sensor state live in their own database next to the platform's
(``<db>_dagster`` on the same server, created on first use), through dagster-postgres. The URL is
handed to Dagster's processes in ``HCP_DAGSTER_PG_URL``, so no password is written to dagster.yaml.
Run concurrency is limited by tags (one landing load at a time, one billing run, one automation
run) rather than by a global count. Usage telemetry is off.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
from psycopg import conninfo
from sqlalchemy.engine import URL

from core.db import with_database
from core.settings import get_settings

DAGSTER_URL_VARIABLE = "HCP_DAGSTER_PG_URL"

DAGSTER_YAML = """\
# Written by hcp (orchestration/instance.py) on every start: edit that file, not this one.
telemetry:
  enabled: false
storage:
  postgres:
    postgres_url:
      env: HCP_DAGSTER_PG_URL
run_coordinator:
  module: dagster._core.run_coordinator.queued_run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: {max_runs}
    tag_concurrency_limits:
      - key: hcp/landing
        limit: 1
      - key: hcp/billing
        limit: 1
      - key: hcp/automation
        limit: 1
run_monitoring:
  enabled: true
  start_timeout_seconds: 900
  poll_interval_seconds: 60
"""


def dagster_yaml(max_runs: int | None = None) -> str:
    """dagster.yaml; ``max_runs`` (``HCP_MAX_RUNS``) caps runs at once to what the machine holds,
    the tag limits above it say what may run together."""
    return DAGSTER_YAML.format(max_runs=get_settings().max_runs if max_runs is None else max_runs)


def dagster_database_name(platform_url: str) -> str:
    """Dagster's database on the platform's server: the platform database's name + ``_dagster``."""
    return f"{conninfo.conninfo_to_dict(platform_url).get('dbname') or 'hcp'}_dagster"


def sqlalchemy_url(url: str) -> str:
    """``url`` (a libpq URL or ``key=value`` string) as the SQLAlchemy URL dagster-postgres takes.

    The driver is named (``postgresql+psycopg2``): SQLAlchemy 2.1 defaults to psycopg 3, whose
    server-side parameters break dagster-postgres' ``NOTIFY run_events, %(id)s``. A socket folder
    goes in the query (``?host=/path``), where libpq reads it."""
    params = conninfo.conninfo_to_dict(url)
    host = str(params.pop("host", "") or "")
    query = {k: str(v) for k, v in params.items() if k not in ("user", "password", "port", "dbname")}
    if host.startswith("/"):
        query["host"] = host
        host = ""
    return URL.create(
        "postgresql+psycopg2",
        username=params.get("user"),
        password=params.get("password"),
        host=host or None,
        port=int(params["port"]) if params.get("port") else None,
        database=params.get("dbname"),
        query=query,
    ).render_as_string(hide_password=False)


def ensure_dagster_database(platform_url: str) -> str:
    """Create Dagster's database when missing; returns its SQLAlchemy URL for dagster-postgres."""
    name = dagster_database_name(platform_url)
    with psycopg.connect(platform_url, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')
    return sqlalchemy_url(with_database(platform_url, name))


def ensure_dagster_home(platform_url: str | None = None) -> Path:
    """Create ``$HCP_HOME/dagster`` with its dagster.yaml and point DAGSTER_HOME at it; with
    ``platform_url``, also Dagster's database and ``HCP_DAGSTER_PG_URL``."""
    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().home / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if platform_url is not None:
        os.environ[DAGSTER_URL_VARIABLE] = ensure_dagster_database(platform_url)
        config.write_text(dagster_yaml())
    elif not config.exists():  # no database at hand (e.g. `hcp materialize` in-process): local files
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    return home


def grpc_workspace(home: Path, port: int, location: str = "hcp") -> Path:
    """A workspace file that points at the code server (``dagster api grpc``) on ``port``."""
    path = home / "workspace.yaml"
    path.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n"
        f"      location_name: {location}\n"
    )
    return path
