"""Users, roles, sessions and the audit trail.

Passwords are stored as bcrypt hashes in ``ops.app_users``; a login opens a row in
``ops.app_sessions`` that expires after ``HCP_APP_SESSION_HOURS`` (default 8) and is re-checked on
every rerun, inside every auto-refreshing fragment and every download, so disabling a user or
expiring a session takes effect at once. Logins, failed logins and denied page accesses are written
to ``ops.audit_log`` (bounded in size).

Abuse of the sign-in form: every attempt is recorded in ``ops.login_attempts``; failures are
throttled per user and per client address (``HCP_APP_LOGIN_MAX_FAILURES``, default 5, and
``HCP_APP_LOGIN_MAX_CLIENT_FAILURES``, default 20, within ``HCP_APP_LOGIN_WINDOW_MINUTES``, default
15). Unknown users cost the same bcrypt check as known ones (against a dummy hash), usernames and
passwords have bounded length, and the admin and finance roles need a TOTP second factor. TOTP
secrets are stored sealed under the PII key (:func:`core.pii.seal_totp_secret`), and each user's
last accepted time step is kept, so a code signs in once only (no replay within its window).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bcrypt
import pyotp

from apps.streamlit.lib import db
from core.pii import open_totp_secret, seal_totp_secret
from core.roles import APP_ROLES

ROLES = APP_ROLES
MFA_ROLES = frozenset({"admin", "finance"})
MAX_USERNAME = 64  # as ops.app_users' check constraint
MAX_PASSWORD_BYTES = 72  # bcrypt's limit: longer input is refused, never silently cut
_AUDIT_TEXT = 64
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
TOTP_STEP_SECONDS = 30
TOTP_VALID_WINDOW = 1  # steps either side of now (clock drift)
# Unknown users are checked against this hash so that they cost the same bcrypt work as known ones.
_DUMMY_HASH = bcrypt.hashpw(b"no such user", bcrypt.gensalt()).decode()


class LoginRefused(Exception):
    """A refused sign-in whose message may be shown to the user as it is."""


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
    """A bcrypt hash of ``password`` (8 characters to 72 bytes)."""
    if len(password) < 8:
        raise ValueError("password: at least 8 characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password: at most {MAX_PASSWORD_BYTES} bytes")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def _bounded(text: str | None, limit: int = _AUDIT_TEXT) -> str | None:
    """``text`` cut to ``limit`` characters (marked), so no input can make an audit row large."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _limit(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def audit(actor: str | None, action: str, entity: str | None = None, before=None, after=None) -> None:
    """Append one event to ops.audit_log."""
    db.execute(
        "insert into ops.audit_log (actor, action, entity, before, after) "
        "values (%(actor)s, %(action)s, %(entity)s, %(before)s::jsonb, %(after)s::jsonb)",
        {
            "actor": _bounded(actor) or "anonymous",
            "action": action,
            "entity": _bounded(entity or "app", 200),
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
    if hashed is not None:  # a new password ends every session opened with the old one
        _revoke_sessions(username)
    audit(actor, "user_upsert", f"user:{username}", after={"role": role})


def _revoke_sessions(username: str, keep: str | None = None) -> None:
    db.execute(
        "update ops.app_sessions set revoked_at = now() "
        "where username = %(u)s and revoked_at is null and session_id is distinct from %(k)s",
        {"u": username, "k": keep},
    )


def change_password(user: User, current: str, new: str) -> None:
    """Change the signed-in user's password; every other session of theirs ends."""
    rows = db.execute("select password_hash from ops.app_users where username = %(u)s", {"u": user.username})
    stored = rows[0][0] if rows and rows[0][0] else _DUMMY_HASH
    if len(current.encode()) > MAX_PASSWORD_BYTES or not bcrypt.checkpw(current.encode(), stored.encode()):
        audit(user.username, "password_change_failed", f"user:{user.username}")
        raise LoginRefused("The current password is wrong.")
    try:
        hashed = hash_password(new)
    except ValueError as err:
        raise LoginRefused(str(err)) from None
    db.execute(
        "update ops.app_users set password_hash = %(h)s, password_changed_at = now(), updated_at = now() "
        "where username = %(u)s",
        {"h": hashed, "u": user.username},
    )
    _revoke_sessions(user.username, keep=user.session_id)
    audit(user.username, "password_change", f"user:{user.username}")


def enroll_totp(username: str, actor: str = "cli") -> str:
    """Give ``username`` a new TOTP secret (base32) and return it; the previous one stops working."""
    secret = pyotp.random_base32()
    sealed, key_id = seal_totp_secret(username, secret)
    rows = db.execute(
        "update ops.app_users set totp_secret = null, totp_secret_encrypted = %(s)s, totp_key_id = %(k)s, "
        "totp_last_step = null, updated_at = now() where username = %(u)s returning username",
        {"s": sealed, "k": key_id, "u": username},
    )
    if not rows:
        raise ValueError(f"no user {username!r}")
    _revoke_sessions(username)
    audit(actor, "totp_enroll", f"user:{username}")
    return secret


def totp_uri(username: str, secret: str) -> str:
    """The otpauth:// URI (a QR code in authenticator apps) for ``secret``."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="HCP operations")


def _totp_accepted(username: str, sealed: bytes | None, key_id: str | None, otp: str | None) -> bool:
    """Whether ``otp`` is ``username``'s code of a time step within the window that was not used
    before; the step is then recorded in the same statement that checks it (a race with the same
    code lets one sign-in through)."""
    if not sealed or not key_id or not otp:
        return False
    totp = pyotp.TOTP(open_totp_secret(username, sealed, key_id), interval=TOTP_STEP_SECONDS)
    now = int(datetime.now(UTC).timestamp()) // TOTP_STEP_SECONDS
    code = otp.strip()
    for step in range(now - TOTP_VALID_WINDOW, now + TOTP_VALID_WINDOW + 1):
        if secrets.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return bool(
                db.execute(
                    "update ops.app_users set totp_last_step = %(s)s where username = %(u)s "
                    "and (totp_last_step is null or totp_last_step < %(s)s) returning username",
                    {"s": step, "u": username},
                )
            )
    return False


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


def _record_attempt(username: str, client: str, succeeded: bool) -> None:
    db.execute(
        "insert into ops.login_attempts (username, client, succeeded) values (%(u)s, %(c)s, %(s)s)",
        {"u": username, "c": client, "s": succeeded},
    )


def _throttled(username: str, client: str) -> bool:
    """Whether recent failures for this user (since their last success) or this address exceed the limits."""
    rows = db.execute(
        """
        select
            count(*) filter (where username = %(u)s and at > coalesce(
                (select max(at) from ops.login_attempts where username = %(u)s and succeeded), '-infinity')),
            count(*) filter (where client = %(c)s)
        from ops.login_attempts
        where not succeeded and at > now() - make_interval(mins => %(w)s) and (username = %(u)s or client = %(c)s)
        """,
        {"u": username, "c": client, "w": _limit("HCP_APP_LOGIN_WINDOW_MINUTES", 15)},
    )
    by_user, by_client = rows[0]
    return by_user >= _limit("HCP_APP_LOGIN_MAX_FAILURES", 5) or by_client >= _limit(
        "HCP_APP_LOGIN_MAX_CLIENT_FAILURES", 20
    )


def login(username: str, password: str, otp: str | None = None, client: str | None = None) -> User | None:
    """Check a password (and the TOTP code for admin and finance); on success open a session.

    Returns None for a wrong username or password; raises :class:`LoginRefused` (with a message for
    the user) when throttled, for an over-long password, or for a missing or wrong second factor.
    Every attempt is recorded and audited, with the username cut to a bounded length.
    """
    name = _bounded(username, MAX_USERNAME) or ""
    client = _bounded(client or "unknown", 80) or "unknown"
    if _throttled(name, client):
        _record_attempt(name, client, False)
        raise LoginRefused(
            "Too many failed sign-ins for this user or from this address; try again in "
            f"{_limit('HCP_APP_LOGIN_WINDOW_MINUTES', 15)} minutes."
        )
    secret = password.encode()
    too_long = len(secret) > MAX_PASSWORD_BYTES
    rows = []
    if _USERNAME.match(username):
        rows = db.execute(
            "select role, password_hash, totp_secret_encrypted, totp_key_id from ops.app_users "
            "where username = %(u)s and is_active",
            {"u": username},
        )
    stored = rows[0][1] if rows and rows[0][1] else None
    # The same bcrypt work whether the user exists, has a password, or sent an over-long one.
    checked = bcrypt.checkpw(secret[:MAX_PASSWORD_BYTES], (stored or _DUMMY_HASH).encode())
    ok = checked and stored is not None and not too_long
    if ok and rows[0][0] in MFA_ROLES:
        totp_secret = rows[0][2]
        if not _totp_accepted(username, totp_secret, rows[0][3], otp):
            _record_attempt(name, client, False)
            audit(name, "login_failed", "app", after={"reason": "second factor", "client": client})
            if not totp_secret:
                raise LoginRefused(
                    f"The {rows[0][0]} role needs a second factor: ask an admin to run `hcp users mfa {name}`."
                )
            raise LoginRefused(
                "Enter the current 6-digit code from your authenticator app (each code signs in once)."
            )
    if not ok:
        _record_attempt(name, client, False)
        audit(name or None, "login_failed", "app", after={"client": client})
        if too_long:
            raise LoginRefused(f"Passwords are at most {MAX_PASSWORD_BYTES} bytes long.")
        return None
    _record_attempt(name, client, True)
    user = _open_session(username, rows[0][0])
    audit(username, "login", "app", after={"role": user.role, "method": "password", "client": client})
    return user


def login_sso(
    email: str, email_verified: bool, otp: str | None = None, client: str | None = None
) -> User | None:
    """Open a session for an OIDC-authenticated user who exists (by verified e-mail) and is active.

    The admin and finance roles need the TOTP code here too (raises :class:`LoginRefused`)."""
    name = _bounded(email, MAX_USERNAME) or ""
    client = _bounded(client or "unknown", 80) or "unknown"
    if not email_verified:
        audit(name or None, "login_failed", "app", after={"method": "oidc", "reason": "e-mail not verified"})
        return None
    rows = []
    if _USERNAME.match(email):
        rows = db.execute(
            "select role, totp_secret_encrypted, totp_key_id from ops.app_users where username = %(u)s and is_active",
            {"u": email},
        )
    if not rows:
        audit(name or None, "login_failed", "app", after={"method": "oidc", "reason": "unknown user"})
        return None
    role, totp_secret, totp_key_id = rows[0]
    if role in MFA_ROLES and not _totp_accepted(email, totp_secret, totp_key_id, otp):
        if otp:
            _record_attempt(name, client, False)
            audit(name, "login_failed", "app", after={"method": "oidc", "reason": "second factor"})
        raise LoginRefused(f"The {role} role needs the 6-digit code from your authenticator app.")
    _record_attempt(name, client, True)
    user = _open_session(email, role)
    audit(email, "login", "app", after={"role": user.role, "method": "oidc", "client": client})
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
