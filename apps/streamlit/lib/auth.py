"""Users, roles, sessions and the audit trail.

Passwords are stored as bcrypt hashes in ``ops.app_users``; a login opens a row in
``ops.app_sessions`` that expires after ``HCP_APP_SESSION_HOURS`` (default 8) and is re-checked on
every rerun, so disabling a user or expiring a session takes effect at once. Logins, failed logins
and denied page accesses are written to ``ops.audit_log``.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bcrypt

from apps.streamlit.lib import db

ROLES = ("viewer", "operator", "analyst", "finance", "admin")

# page key -> roles that may open it (admin sees everything).
PAGE_ROLES: dict[str, frozenset[str]] = {
    "executive": frozenset({"viewer", "analyst", "finance", "admin"}),
    "operations": frozenset({"viewer", "operator", "analyst", "admin"}),
    "resources": frozenset({"operator", "analyst", "admin"}),
    "device": frozenset({"operator", "analyst", "admin"}),
    "workloads": frozenset({"operator", "analyst", "admin"}),
    "billing": frozenset({"finance", "admin"}),
    "forecasts": frozenset({"analyst", "admin"}),
    "whatif": frozenset({"operator", "analyst", "admin"}),
    "users": frozenset({"admin"}),
}


@dataclass(frozen=True)
class User:
    """A signed-in user: name, role and the session that expires at ``expires_at``."""

    username: str
    role: str
    session_id: str
    expires_at: datetime


def session_hours() -> float:
    """Session lifetime in hours (HCP_APP_SESSION_HOURS, default 8)."""
    return float(os.environ.get("HCP_APP_SESSION_HOURS", "8"))


def can_open(role: str, page: str) -> bool:
    """Whether ``role`` may open ``page``."""
    return role in PAGE_ROLES.get(page, frozenset())


def allowed_pages(role: str) -> list[str]:
    """Page keys ``role`` may open, in menu order."""
    return [page for page in PAGE_ROLES if can_open(role, page)]


def hash_password(password: str) -> str:
    """A bcrypt hash of ``password``."""
    if len(password) < 8:
        raise ValueError("password: at least 8 characters")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def audit(actor: str | None, action: str, entity: str | None = None, before=None, after=None) -> None:
    """Append one event to ops.audit_log."""
    db.execute(
        "insert into ops.audit_log (actor, action, entity, before, after) "
        "values (%(actor)s, %(action)s, %(entity)s, %(before)s::jsonb, %(after)s::jsonb)",
        {
            "actor": actor or "anonymous",
            "action": action,
            "entity": entity or "app",
            "before": json.dumps(before, default=str) if before is not None else None,
            "after": json.dumps(after, default=str) if after is not None else None,
        },
    )


def add_user(username: str, role: str, password: str | None, actor: str = "cli") -> None:
    """Create or update a user with ``role`` (and a password; None keeps SSO-only users)."""
    if role not in ROLES:
        raise ValueError(f"role: one of {', '.join(ROLES)}, not {role!r}")
    hashed = hash_password(password) if password is not None else None
    db.execute(
        """
        insert into ops.app_users (username, role, password_hash) values (%(u)s, %(r)s, %(h)s)
        on conflict (username) do update
            set role = excluded.role, password_hash = coalesce(excluded.password_hash, app_users.password_hash),
                is_active = true, updated_at = now()
        """,
        {"u": username, "r": role, "h": hashed},
    )
    audit(actor, "user_upsert", f"user:{username}", after={"role": role})


def set_active(username: str, active: bool, actor: str = "cli") -> bool:
    """Enable or disable a user (disabling revokes their sessions); False when no such user."""
    rows = db.execute(
        "update ops.app_users set is_active = %(a)s, updated_at = now() where username = %(u)s returning username",
        {"a": active, "u": username},
    )
    if rows and not active:
        db.execute(
            "update ops.app_sessions set revoked_at = now() where username = %(u)s and revoked_at is null",
            {"u": username},
        )
    if rows:
        audit(actor, "user_enable" if active else "user_disable", f"user:{username}")
    return bool(rows)


def list_users() -> list[dict]:
    """Every user with role, status and last login (no hashes)."""
    rows = db.execute(
        "select username, role, is_active, created_at, last_login_at from ops.app_users order by username"
    )
    keys = ("username", "role", "is_active", "created_at", "last_login_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _open_session(username: str, role: str) -> User:
    session_id = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(hours=session_hours())
    db.execute(
        "insert into ops.app_sessions (session_id, username, expires_at) values (%(s)s, %(u)s, %(e)s)",
        {"s": session_id, "u": username, "e": expires},
    )
    db.execute("update ops.app_users set last_login_at = now() where username = %(u)s", {"u": username})
    return User(username, role, session_id, expires)


def login(username: str, password: str) -> User | None:
    """Check a password; on success open a session. Both outcomes are audited."""
    rows = db.execute(
        "select role, password_hash from ops.app_users where username = %(u)s and is_active",
        {"u": username},
    )
    ok = bool(rows) and rows[0][1] is not None and bcrypt.checkpw(password.encode(), rows[0][1].encode())
    if not ok:
        audit(username or None, "login_failed", "app")
        return None
    user = _open_session(username, rows[0][0])
    audit(username, "login", "app", after={"role": user.role, "method": "password"})
    return user


def login_sso(email: str) -> User | None:
    """Open a session for an OIDC-authenticated user who exists (by e-mail) and is active."""
    rows = db.execute(
        "select role from ops.app_users where username = %(u)s and is_active",
        {"u": email},
    )
    if not rows:
        audit(email, "login_failed", "app", after={"method": "oidc", "reason": "unknown user"})
        return None
    user = _open_session(email, rows[0][0])
    audit(email, "login", "app", after={"role": user.role, "method": "oidc"})
    return user


def check_session(session_id: str) -> User | None:
    """The session's user while it is valid (not expired, revoked or disabled), else None."""
    rows = db.execute(
        """
        select u.username, u.role, s.expires_at
        from ops.app_sessions as s join ops.app_users as u on u.username = s.username
        where s.session_id = %(s)s and s.revoked_at is null and s.expires_at > now() and u.is_active
        """,
        {"s": session_id},
    )
    return User(rows[0][0], rows[0][1], session_id, rows[0][2]) if rows else None


def logout(user: User) -> None:
    """Revoke the session and audit the logout."""
    db.execute(
        "update ops.app_sessions set revoked_at = now() where session_id = %(s)s", {"s": user.session_id}
    )
    audit(user.username, "logout", "app")


def deny(user: User | None, page: str) -> None:
    """Record a refused page access."""
    audit(
        user.username if user else None,
        "access_denied",
        f"page:{page}",
        after={"role": user.role if user else None},
    )
