"""Migrations are versioned and idempotent, and create the platform's schemas."""

from core.migrate import available, migrate


def test_migrations_idempotent(database_url, conn):
    assert migrate(database_url) == []  # the session fixture applied everything already
    versions = [row[0] for row in conn.execute("select version from public.schema_migrations order by 1")]
    assert versions == [m.version for m in available()]
    schemas = {row[0] for row in conn.execute("select nspname from pg_namespace")}
    assert {"raw", "staging", "intermediate", "marts", "ml", "ops"} <= schemas
