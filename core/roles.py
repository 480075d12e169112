"""Roles: the platform's least-privilege database roles, their passwords, and the app's user roles.

Every component connects as its own role (migration 0015 creates them and grants what each needs):

- ``hcp_owner`` owns the platform's schemas and tables (NOLOGIN; migrations run on the admin path);
- ``hcp_pipeline``: loads, dbt (it owns the dbt schemas), billing writes, Dagster assets;
- ``hcp_app``: the Streamlit app, reads marts and writes only its own tables;
- ``hcp_api``: the REST API (migration 0010); ``hcp_analyst``: analysts, read only (migration 0004);
- ``hcp_dagster``: Dagster's storage (runs, event logs, schedules); owns Dagster's database (0020).

Passwords are generated (``secrets``) into one 0600 file outside the repository
(``$HCP_HOME/secrets/db_roles.json``) by :func:`ensure_roles`, the explicit step that ``hcp db
migrate`` and ``hcp demo`` run; components build their URLs with :func:`role_url`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

OWNER_ROLE = "hcp_owner"
PIPELINE_ROLE = "hcp_pipeline"
APP_ROLE = "hcp_app"
API_ROLE = "hcp_api"
ANALYST_ROLE = "hcp_analyst"
DAGSTER_ROLE = "hcp_dagster"
# The roles that log in, each with a generated password (hcp_owner never logs in).
LOGIN_ROLES: tuple[str, ...] = (PIPELINE_ROLE, APP_ROLE, API_ROLE, ANALYST_ROLE, DAGSTER_ROLE)

# Roles of the app's users (ops.app_users.role; its check constraint lists the same names), from the
# least to the most privileged. The one definition: the app, the CLI and the tests import it.
APP_ROLES: tuple[str, ...] = ("viewer", "operator", "analyst", "finance", "admin")


def passwords_file() -> Path:
    """Where the roles' passwords live: ``HCP_DB_PASSWORDS_FILE``, else ``$HCP_HOME/secrets/db_roles.json``."""
    from core.settings import get_settings

    settings = get_settings()
    return settings.db_passwords_file or settings.home / "secrets" / "db_roles.json"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside ``path``: one process at a time writes the file or alters the roles
    (concurrent ALTER ROLE fails with "tuple concurrently updated")."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


def _load_or_create(path: Path) -> dict[str, str]:
    """The passwords in ``path``, generating any that are missing (caller holds the lock)."""
    passwords = _read(path)
    missing = [role for role in LOGIN_ROLES if not passwords.get(role)]
    if missing:
        passwords.update({role: secrets.token_urlsafe(32) for role in missing})
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(passwords, handle, indent=1)
        tmp.replace(path)
    path.chmod(0o600)  # also a file copied in with a wider mode
    return passwords


class MissingPasswordError(RuntimeError):
    """A login role's password is not in the password file yet: ``hcp db migrate`` writes it."""


def _with_login(url: str, role: str, password: str) -> str:
    # core.db.with_login, which this module cannot import (core.db -> core.migrate -> core.roles)
    return make_conninfo(url, user=role, password=password)


def role_password(role: str) -> str:
    """The password of login role ``role`` (``HCP_ANALYST_PASSWORD`` wins for the analysts)."""
    from core.settings import get_settings

    if role == ANALYST_ROLE and get_settings().analyst_password:
        return get_settings().analyst_password
    path = passwords_file()
    password = _read(path).get(role)
    if not password:
        raise MissingPasswordError(
            f"no password for database role {role} in {path}: run `hcp db migrate` first"
        )
    return password


def role_url(url: str, role: str) -> str:
    """``url`` (a URL or key=value conninfo) logging in as ``role`` with its password."""
    return _with_login(url, role, role_password(role))


def _logs_in(url: str, role: str, password: str) -> bool:
    try:
        psycopg.connect(_with_login(url, role, password), connect_timeout=10).close()
    except psycopg.OperationalError:
        return False
    return True


def ensure_roles(admin_url: str) -> list[str]:
    """Give every login role of migration 0015 LOGIN and its password from :func:`passwords_file`
    (generated there, 0600, when missing); returns the roles changed now. Idempotent: a role whose
    password already works is left alone. ``admin_url`` is the admin path (the DATABASE_URL user,
    or the embedded server's OS owner), which may alter roles."""
    path = passwords_file()
    changed = []
    with _locked(path):
        passwords = _load_or_create(path)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for role in LOGIN_ROLES:
                password = role_password(role) if role == ANALYST_ROLE else passwords[role]
                if _logs_in(admin_url, role, password):
                    continue
                set_login_password(conn, role, password)
                changed.append(role)
    return changed


def set_login_password(conn: psycopg.Connection, role: str, password: str) -> None:
    """Let ``role`` log in with ``password``. The password travels as a literal (ALTER ROLE takes no
    bind parameters) and is never logged."""
    conn.execute(
        sql.SQL("alter role {} with login password {}").format(sql.Identifier(role), sql.Literal(password))
    )


def set_analyst_password(conn: psycopg.Connection, password: str | None) -> bool:
    """Enable LOGIN for ``hcp_analyst`` with ``password``; with no password, disable LOGIN.

    Returns whether the role can log in afterwards.
    """
    if password:
        set_login_password(conn, ANALYST_ROLE, password)
        return True
    conn.execute(sql.SQL("alter role {} with nologin").format(sql.Identifier(ANALYST_ROLE)))
    return False


def apply_analyst_password_from_env(url: str) -> bool:
    """Set the analyst password from ``HCP_ANALYST_PASSWORD`` when present; returns whether it was set."""
    from core.settings import get_settings

    password = get_settings().analyst_password
    if not password:
        return False
    with psycopg.connect(url, autocommit=True) as conn:
        return set_analyst_password(conn, password)
