"""Connection strings are handled by psycopg.conninfo: percent-encoded passwords, socket hosts and
key=value strings all reach libpq, dbt and psycopg unchanged in meaning."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from core.db import libpq_env, with_database, with_login
from core.dbt import run_dbt

PASSWORD = "p@ss:w/rd%"
ROLE = "hcp_pct_user"


def test_percent_encoded_password_is_decoded():
    env = libpq_env("postgresql://alice:p%40ss%3Aw%2Frd%25@db.example:5433/hcp?sslmode=require")
    assert env == {
        "PGHOST": "db.example",
        "PGPORT": "5433",
        "PGUSER": "alice",
        "PGPASSWORD": PASSWORD,
        "PGDATABASE": "hcp",
        "PGSSLMODE": "require",
    }


def test_socket_host_and_key_value_strings():
    env = libpq_env("postgresql://postgres@/hcp?host=/tmp/hcp%20pg/socket&port=6543")
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"]) == ("/tmp/hcp pg/socket", "6543", "hcp")
    assert libpq_env("host=/run/pg dbname=x user=u password='a b'")["PGPASSWORD"] == "a b"
    moved = conninfo_to_dict(with_database("postgresql://u:p%40ss@h:5433/hcp?sslmode=require", "other"))
    assert moved == {
        "user": "u",
        "password": "p@ss",
        "host": "h",
        "port": "5433",
        "dbname": "other",
        "sslmode": "require",
    }


@pytest.fixture()
def pct_url(database_url: str, conn):
    """A login role whose password needs percent-encoding in a URL, and that URL. The test server
    trusts local connections; a first pg_hba line makes it ask this role for its password (scram)."""
    conn.execute(
        sql.SQL("create role {} login password {}").format(sql.Identifier(ROLE), sql.Literal(PASSWORD))
    )
    hba = Path(conn.execute("show hba_file").fetchone()[0])
    original = hba.read_text()
    hba.write_text(f"local all {ROLE} scram-sha-256\nhost all {ROLE} 127.0.0.1/32 scram-sha-256\n" + original)
    conn.execute("select pg_reload_conf()")
    params = conninfo_to_dict(database_url)
    host = params.get("host", "localhost")
    # the URL form a user would write: the password percent-encoded, the socket folder as ?host=
    url = (
        f"postgresql://{ROLE}:p%40ss%3Aw%2Frd%25@/{params['dbname']}"
        f"?host={host.replace('/', '%2F')}&port={params.get('port', '5432')}"
    )
    try:
        yield url
    finally:
        hba.write_text(original)
        conn.execute("select pg_reload_conf()")
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(ROLE)))


def test_a_password_with_percent_40_reaches_postgres_and_dbt(pct_url):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(with_login(pct_url, ROLE, "wrong")).close()
    with psycopg.connect(with_database(pct_url, conninfo_to_dict(pct_url)["dbname"])) as connection:
        assert connection.execute("select current_user").fetchone()[0] == ROLE
    done = run_dbt(pct_url, "debug", check=False)  # dbt connects with the PG* variables of libpq_env
    assert done.returncode == 0 and "OK connection ok" in done.stdout, done.stdout[-3000:]


def test_api_login_is_derived_from_either_form(migrated_template):
    from api.db import api_database_url
    from core.roles import role_password

    for platform in (
        "postgresql://postgres:own%40er@db.example:5433/hcp",
        "user=postgres password=own@er host=db.example port=5433 dbname=hcp",
    ):
        assert conninfo_to_dict(api_database_url(platform, "api p@ss")) == {
            "user": "hcp_api",
            "password": "api p@ss",
            "host": "db.example",
            "port": "5433",
            "dbname": "hcp",
        }
        # without one, its generated password (core.roles), never the platform's own
        assert conninfo_to_dict(api_database_url(platform))["password"] == role_password("hcp_api")
