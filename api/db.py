"""The API's connections: a pool of logins as ``hcp_api`` (never the platform's owner role).

:func:`api_database_url` derives the ``hcp_api`` URL from the platform's URL and
:func:`enable_login` lets the role log in; both run in ``hcp api serve`` with the platform's
credentials, so the server process itself only ever holds the least-privilege login.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

API_ROLE = "hcp_api"


def api_database_url(platform_url: str, password: str | None = None) -> str:
    """``platform_url`` (a URL or key=value conninfo) with the user replaced by ``hcp_api`` (and its
    password, if any; the platform's own password is never carried over)."""
    params = conninfo_to_dict(platform_url)
    params.pop("password", None)
    params["user"] = API_ROLE
    if password:
        params["password"] = password
    return make_conninfo(**params)


def enable_login(platform_url: str, password: str | None) -> None:
    """Allow ``hcp_api`` to log in (with ``password`` when given; the embedded server trusts local
    connections and needs none). The password travels as a literal: ALTER ROLE takes no parameters."""
    with psycopg.connect(platform_url, autocommit=True) as conn:
        if password:
            conn.execute(
                sql.SQL("alter role {} with login password {}").format(
                    sql.Identifier(API_ROLE), sql.Literal(password)
                )
            )
        else:
            conn.execute(sql.SQL("alter role {} with login").format(sql.Identifier(API_ROLE)))


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
