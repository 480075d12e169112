"""The analysts' role reads marts and nothing else, and writes nothing."""

from __future__ import annotations

import psycopg
import pytest

from core.db import with_login
from core.roles import ANALYST_ROLE, role_password, set_analyst_password


@pytest.fixture()
def analyst(marts_fleet, conn):
    # the role is cluster-wide: keep the session's password (tests/security logs in with it too)
    password = role_password(ANALYST_ROLE)
    set_analyst_password(conn, password)
    with psycopg.connect(
        with_login(marts_fleet["url"], ANALYST_ROLE, password), autocommit=True
    ) as connection:
        yield connection


def test_analyst_reads_marts(analyst):
    assert analyst.execute("select current_user").fetchone()[0] == ANALYST_ROLE
    for table in ("fct_exec_kpis_daily", "fct_usage", "dim_customers", "fct_device_hourly"):
        analyst.execute(f"select count(*) from marts.{table}").fetchone()


@pytest.mark.parametrize(
    "query",
    [
        "select * from raw.customers",
        "select pii_encrypted from raw.customers",
        "select * from raw.device_telemetry limit 1",
        "select * from staging.stg_raw__customers",
        "select * from intermediate.int_workload_sessions_built",
    ],
)
def test_analyst_cannot_read_outside_marts(analyst, query):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        analyst.execute(query)


@pytest.mark.parametrize(
    "statement",
    [
        "delete from marts.fct_usage",
        "update marts.dim_customers set tax_rate = 0",
        "insert into marts.dim_customers (customer_id, customer_type) values ('x', 'inference')",
        "create table marts.scratch (x int)",
        "create table public.scratch (x int)",
        "drop table marts.fct_usage",
    ],
)
def test_analyst_cannot_write(analyst, statement):
    with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
        analyst.execute(statement)


def test_grants_survive_a_rebuild(marts_fleet, analyst):
    from core.dbt import run_dbt

    run_dbt(
        marts_fleet["url"],
        "run",
        "--select",
        "dim_customers",
        "--full-refresh",
        target_path=marts_fleet["target"],
    )
    analyst.execute("select count(*) from marts.dim_customers").fetchone()


def test_password_off_disables_login(conn):
    assert set_analyst_password(conn, None) is False
    assert not conn.execute(
        "select rolcanlogin from pg_roles where rolname = %s", (ANALYST_ROLE,)
    ).fetchone()[0]
    assert set_analyst_password(conn, role_password(ANALYST_ROLE)) is True
