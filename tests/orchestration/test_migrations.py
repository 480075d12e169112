"""Migrations are versioned and idempotent, and create the platform's schemas."""

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import conninfo

from core.migrate import available, migrate


def test_migrations_idempotent(database_url, conn):
    assert migrate(database_url) == []  # the migrated template had everything applied
    versions = [row[0] for row in conn.execute("select version from public.schema_migrations order by 1")]
    assert versions == [m.version for m in available()]
    schemas = {row[0] for row in conn.execute("select nspname from pg_namespace")}
    assert {"raw", "staging", "intermediate", "marts", "ml", "ops"} <= schemas


SCHEMA_SNAPSHOT = {
    "columns": """select table_schema, table_name, column_name, data_type, is_nullable, column_default,
                         numeric_precision, numeric_scale
                  from information_schema.columns
                  where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2, 3""",
    "constraints": """select n.nspname, c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
                      from pg_constraint c join pg_namespace n on n.oid = c.connamespace
                      where n.nspname not in ('pg_catalog', 'information_schema') order by 1, 2, 3""",
    "indexes": """select schemaname, tablename, indexdef from pg_indexes
                  where schemaname not in ('pg_catalog', 'information_schema') order by 1, 2, 3""",
    "triggers": """select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) from pg_trigger
                   where not tgisinternal order by 1, 2""",
    "functions": """select n.nspname, p.proname, pg_get_functiondef(p.oid) from pg_proc p
                    join pg_namespace n on n.oid = p.pronamespace
                    where n.nspname not in ('pg_catalog', 'information_schema') order by 1, 2, 3""",
    "views": """select schemaname, viewname, definition from pg_views
                where schemaname not in ('pg_catalog', 'information_schema') order by 1, 2""",
    "grants": """select grantee, table_schema, table_name, privilege_type
                 from information_schema.role_table_grants
                 where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2, 3, 4""",
}


def _snapshot(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in SCHEMA_SNAPSHOT.items()}


@contextlib.contextmanager
def _empty_database(url: str, name: str) -> Iterator[str]:
    admin = conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield conninfo.make_conninfo(url, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def test_versions_are_gapless():
    assert [m.version for m in available()] == list(range(1, len(available()) + 1))


def test_upgraded_database_equals_fresh_one(database_url):
    """A database upgraded one release at a time ends up identical to one migrated in one go."""
    with (
        _empty_database(database_url, "hcp_mig_fresh") as fresh,
        _empty_database(database_url, "hcp_mig_upgraded") as upgraded,
    ):
        migrate(fresh)
        for migration in available():
            assert [m.version for m in migrate(upgraded, up_to=migration.version)] == [migration.version]
        before, after = _snapshot(fresh), _snapshot(upgraded)
        for part in SCHEMA_SNAPSHOT:
            assert before[part] == after[part], part
        assert len(before["columns"]) > 100


def test_migrations_with_roles_or_grants_are_reapplied_after_a_restore():
    """A backup carries no owners or grants: every migration that creates roles or grants is marked
    for core.migrate.reapply_privileges (and so must stay idempotent)."""
    import re

    from core.migrate import REAPPLY_MARKER

    granting = [
        m
        for m in available()
        if re.search(r"^\s*(grant|create role|alter default privileges)\b", m.path.read_text(), re.M | re.I)
    ]
    assert {m.version for m in granting} >= {4, 10, 15}
    for migration in granting:
        assert migration.path.read_text().startswith(REAPPLY_MARKER), migration.path.name
