"""Versioned, idempotent schema migrations: numbered SQL files applied once, in order.

Each file runs in its own transaction together with its row in ``public.schema_migrations``; an
advisory lock keeps two processes (say, Dagster and the CLI) from migrating at the same time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x4843_5030  # "HCP0"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def available() -> list[Migration]:
    """Migrations shipped with the code, in version order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files are named NNNN_snake_case.sql")
        found.append(Migration(int(match[1]), match[2], path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(
            f"migration versions in {MIGRATIONS_DIR} must run 1, 2, 3, ... once each: {versions}"
        )
    return found


def applied(conn: psycopg.Connection) -> set[int]:
    conn.execute(
        """create table if not exists public.schema_migrations (
               version integer primary key, name text not null,
               applied_at timestamptz not null default now())"""
    )
    return {row[0] for row in conn.execute("select version from public.schema_migrations")}


def migrate(url: str, up_to: int | None = None) -> list[Migration]:
    """Apply every pending migration (through version ``up_to``, if given) to the database at ``url``;
    returns the ones applied now."""
    done: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            already = applied(conn)
            for migration in available():
                if migration.version in already or (up_to is not None and migration.version > up_to):
                    continue
                with conn.transaction():
                    conn.execute(migration.path.read_text())
                    conn.execute(
                        "insert into public.schema_migrations (version, name) values (%s, %s)",
                        (migration.version, migration.name),
                    )
                done.append(migration)
            _assign_owners(conn)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done


def _assign_owners(conn: psycopg.Connection) -> None:
    # objects migrations created (as the admin) go to their owner roles (0015)
    if conn.execute("select to_regprocedure('public.hcp_assign_owners()')").fetchone()[0]:
        conn.execute("select public.hcp_assign_owners()")


# A migration whose first line is this marker is idempotent and creates roles or grants: a restore
# (backups carry no owners or grants) runs it again.
REAPPLY_MARKER = "-- reapply after restore:"


def reapply_privileges(url: str) -> list[Migration]:
    """Re-run the role-and-grant migrations already applied to ``url`` and hand objects to their
    owners: what a database restored without owners or grants needs. Returns the migrations run."""
    done = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            already = applied(conn)
            for migration in available():
                text = migration.path.read_text()
                if migration.version in already and text.startswith(REAPPLY_MARKER):
                    with conn.transaction():
                        conn.execute(text)
                    done.append(migration)
            _assign_owners(conn)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done


def prepare(url: str) -> list[Migration]:
    """Everything a database needs before use: pending migrations, then code-managed role settings
    (the analysts' password from the environment) and the sealing of clear TOTP secrets. Returns
    the migrations applied now."""
    from core.roles import apply_analyst_password_from_env

    done = migrate(url)
    apply_analyst_password_from_env(url)
    seal_clear_totp_secrets(url)
    return done


def seal_clear_totp_secrets(url: str) -> int:
    """Seal TOTP secrets left in clear by versions before migration 0016 (the database never sees
    the PII key, so SQL cannot); returns how many. Nothing to seal needs no key."""
    from core.pii import seal_totp_secrets

    with psycopg.connect(url) as conn:
        found = conn.execute(
            "select to_regclass('ops.app_users') is not null and exists (select 1 from information_schema.columns "
            "where table_schema = 'ops' and table_name = 'app_users' and column_name = 'totp_secret_encrypted')"
        ).fetchone()[0]
        if (
            not found
            or conn.execute("select count(*) from ops.app_users where totp_secret is not null").fetchone()[0]
            == 0
        ):
            return 0
        return seal_totp_secrets(conn)
