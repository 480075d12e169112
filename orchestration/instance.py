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
from psycopg import conninfo, sql
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
    # the daemon looks for queued runs every second (default 5): each step of load -> marts -> plan waits here
    dequeue_interval_seconds: 1
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
    """Dagster's database, owned by ``hcp_dagster`` (created when missing; one an older version
    created as the admin is handed over); returns its SQLAlchemy URL, logging in as ``hcp_dagster``.

    ``platform_url`` is the admin path: the platform is migrated and the roles can log in first."""
    from core.migrate import prepare
    from core.roles import DAGSTER_ROLE, ensure_roles, role_url

    prepare(platform_url)
    ensure_roles(platform_url)
    name = dagster_database_name(platform_url)
    with psycopg.connect(platform_url, autocommit=True) as conn:
        owner = conn.execute(
            "select pg_catalog.pg_get_userbyid(datdba) from pg_catalog.pg_database where datname = %s",
            (name,),
        ).fetchone()
        if owner is None:
            conn.execute(
                sql.SQL("create database {} owner {}").format(
                    sql.Identifier(name), sql.Identifier(DAGSTER_ROLE)
                )
            )
        elif owner[0] != DAGSTER_ROLE:
            conn.execute(
                sql.SQL("alter database {} owner to {}").format(
                    sql.Identifier(name), sql.Identifier(DAGSTER_ROLE)
                )
            )
    if owner is not None and owner[0] != DAGSTER_ROLE:
        with psycopg.connect(with_database(platform_url, name), autocommit=True) as conn:
            conn.execute(_HAND_OVER)
    return sqlalchemy_url(role_url(with_database(platform_url, name), DAGSTER_ROLE))


# Tables, views and free-standing sequences of public (a serial's sequence moves with its table).
_HAND_OVER = """
do $$
declare
    o record;
begin
    for o in
        select c.relname, case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
                                         when 'S' then 'sequence' else 'table' end as kind
        from pg_catalog.pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S')
          and c.relowner <> 'hcp_dagster'::regrole
          and not exists (select from pg_catalog.pg_depend d
                          where d.classid = 'pg_class'::regclass and d.objid = c.oid
                            and d.refobjid <> c.oid and d.deptype in ('a', 'i'))
    loop
        execute format('alter %s public.%I owner to hcp_dagster', o.kind, o.relname);
    end loop;
end
$$
"""


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
