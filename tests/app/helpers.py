"""Helpers for the app tests: point the app at a database, users per role, signed-in AppTests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from core.roles import APP_ROLES
from core.settings import PROJECT_ROOT, environment

APP_DIR = PROJECT_ROOT / "apps" / "streamlit"

ROLES = APP_ROLES
PASSWORD = "correct horse battery"
APP_FILE = str(APP_DIR / "streamlit_app.py")


@contextlib.contextmanager
def using(url: str) -> Iterator[str]:
    """Point the app (lib.db, caches) at ``url`` for the duration of the block."""
    import streamlit as st

    from apps.streamlit.lib import db

    # settings are cached per process: environment() re-reads them on entry and on exit
    with environment({"DATABASE_URL": url}):
        db.reset()
        st.cache_data.clear()
        st.cache_resource.clear()
        try:
            yield url
        finally:
            db.reset()
            st.cache_data.clear()
            st.cache_resource.clear()


def add_role_users() -> None:
    """One user per role, named after the role, with PASSWORD (and a TOTP secret where the role needs one)."""
    from apps.streamlit.lib import auth

    for role in ROLES:
        auth.add_user(role, role, PASSWORD, actor="test")
        if role in getattr(auth, "MFA_ROLES", ()):  # (absent before issue 15)
            auth.enroll_totp(role, actor="test")


def current_code(username: str) -> str | None:
    """A code the user's authenticator app shows now and that has not signed in yet (None: no
    second factor). A code signs in once: after a sign-in in this time step, the next step's code
    is used (accepted for clock drift), and past that this waits for the next step."""
    import time

    import pyotp

    from apps.streamlit.lib.auth import TOTP_STEP_SECONDS, TOTP_VALID_WINDOW

    found = _totp_row(username)
    if found is None:
        return None
    secret, last = found
    now = int(time.time()) // TOTP_STEP_SECONDS
    step = max(now, (last or 0) + 1)
    if step > now + TOTP_VALID_WINDOW:
        time.sleep((step - TOTP_VALID_WINDOW) * TOTP_STEP_SECONDS - time.time() + 0.05)
    return pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS).at(step * TOTP_STEP_SECONDS)


def totp_secret(username: str) -> str | None:
    """The user's TOTP secret (None: no second factor)."""
    found = _totp_row(username)
    return found[0] if found else None


def _totp_row(username: str) -> tuple[str, int | None] | None:
    """The user's TOTP secret, unsealed with the PII key, and the last time step that signed in."""
    import psycopg

    from core.pii import open_totp_secret

    try:
        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            row = conn.execute(
                "select totp_secret_encrypted, totp_key_id, totp_last_step from ops.app_users where username = %s",
                (username,),
            ).fetchone()
    except psycopg.Error:  # no database (the missing-database test): no code to type
        return None
    if not row or row[0] is None:
        return None
    return open_totp_secret(username, row[0], row[1]), row[2]


def signed_in(role: str, password: str = PASSWORD):
    """An AppTest of the app, signed in through the login form as the user named ``role``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP_FILE, default_timeout=300)
    at.run()
    at.text_input(key="login_username").input(role)
    at.text_input(key="login_password").input(password)
    code = current_code(role)
    if code:
        at.text_input(key="login_otp").input(code)
    at.button[0].click().run()
    return at


def render_problems(at) -> list[str]:
    """Exceptions and error boxes on the rendered page."""
    return [e.value for e in at.exception] + [e.value for e in at.error]
