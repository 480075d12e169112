"""The API's connections: a pool of logins as ``hcp_api`` (never the platform's owner role).

:func:`api_database_url` derives the ``hcp_api`` URL from the platform's URL and
:func:`enable_login` lets the role log in; both run in ``hcp api serve`` with the platform's
credentials, so the server process itself only ever holds the least-privilege login.
"""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool

from core.db import with_login
from core.roles import API_ROLE, ensure_roles, role_password, set_login_password


def api_database_url(platform_url: str, password: str | None = None) -> str:
    """``platform_url`` (a URL or key=value conninfo) with the user replaced by ``hcp_api`` and its
    password: ``password``, else the one in the roles' password file (the platform's own password is
    never carried over)."""
    return with_login(platform_url, API_ROLE, password or role_password(API_ROLE))


def enable_login(platform_url: str, password: str | None) -> None:
    """Allow ``hcp_api`` to log in: with ``password`` when given (``HCP_API_DB_PASSWORD``), else with
    its generated password (:func:`core.roles.ensure_roles`)."""
    if not password:
        ensure_roles(platform_url)
        return
    with psycopg.connect(platform_url, autocommit=True) as conn:
        set_login_password(conn, API_ROLE, password)


def make_pool(url: str, size: int) -> ConnectionPool:
    """An open pool of autocommit connections; refuses to serve as anything but ``hcp_api``."""
    pool = ConnectionPool(
        url,
        min_size=min(2, size),
        max_size=size,
        kwargs={"autocommit": True, "application_name": "hcp-api"},
        open=True,
    )
    with pool.connection() as conn:
        user, is_super = conn.execute(
            "select current_user, rolsuper from pg_roles where rolname = current_user"
        ).fetchone()
    if user != API_ROLE or is_super:
        pool.close()
        raise RuntimeError(f"the API must connect as {API_ROLE} (not a superuser); it connected as {user}")
    return pool
