"""Roles: the analysts' read-only database login (created by migration 0004) and the app's user roles."""

from __future__ import annotations

import psycopg
from psycopg import sql

ANALYST_ROLE = "hcp_analyst"

# Roles of the app's users (ops.app_users.role; its check constraint lists the same names), from the
# least to the most privileged. The one definition: the app, the CLI and the tests import it.
APP_ROLES: tuple[str, ...] = ("viewer", "operator", "analyst", "finance", "admin")


def set_analyst_password(conn: psycopg.Connection, password: str | None) -> bool:
    """Enable LOGIN for ``hcp_analyst`` with ``password``; with no password, disable LOGIN.

    Returns whether the role can log in afterwards. The password travels as a literal (ALTER ROLE
    takes no bind parameters) and is never logged.
    """
    if password:
        conn.execute(
            sql.SQL("alter role {} with login password {}").format(
                sql.Identifier(ANALYST_ROLE), sql.Literal(password)
            )
        )
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
