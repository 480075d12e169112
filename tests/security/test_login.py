"""Attacks on the sign-in form and on sessions (issue 15, attacks 4 to 7)."""

from __future__ import annotations

import statistics
import time
import tomllib

import psycopg
import pytest

from tests.app.helpers import APP_DIR, PASSWORD, current_code, signed_in


def _login(*args, **kwargs):
    """auth.login, with a refusal counted as a refusal (not a crash)."""
    from apps.streamlit.lib import auth

    try:
        return auth.login(*args, **kwargs) or "wrong"
    except auth.LoginRefused:
        return "refused"


def test_thousand_wrong_passwords_for_admin_are_throttled(app_db):
    from apps.streamlit.lib import auth

    outcomes = []
    for attempt in range(1000):
        outcomes.append(_login("admin", f"guess number {attempt}"))
        if attempt == 10:  # fail fast: without throttling each guess costs a full bcrypt check
            assert outcomes.count("refused") >= 5, outcomes
    assert outcomes.count("wrong") <= 5 and outcomes.count("refused") >= 995
    # locked out: even the right password and code are refused until the window passes
    with pytest.raises(auth.LoginRefused, match="Too many failed sign-ins"):
        auth.login("admin", PASSWORD, otp=current_code("admin"))
    with psycopg.connect(app_db) as conn:
        failed = conn.execute("select count(*) from ops.audit_log where action = 'login_failed'").fetchone()[
            0
        ]
    assert failed <= 5  # throttled attempts do not each cost a bcrypt check or an audit row


def test_one_address_guessing_many_users_is_throttled(app_db):
    outcomes = [_login(f"user{n}", "not a password", client="203.0.113.7") for n in range(40)]
    assert outcomes.count("refused") >= 20
    # another address is not affected
    assert _login("viewer", PASSWORD, client="198.51.100.2") not in ("refused", "wrong")


def test_unknown_and_known_users_take_the_same_time(app_db):
    from apps.streamlit.lib import auth

    auth.add_user("sso.only@example.com", "viewer", None, actor="test")

    def seconds(name: str) -> float:
        start = time.perf_counter()
        _login(name, "wrong password here", client=f"c-{name}")
        return time.perf_counter() - start

    known = statistics.median(seconds("operator") for _ in range(4))
    unknown = statistics.median(seconds(f"ghost{n}") for n in range(4))
    no_password = statistics.median(seconds("sso.only@example.com") for _ in range(4))
    assert 0.5 < unknown / known < 2, (known, unknown)
    assert 0.5 < no_password / known < 2, (known, no_password)


def test_fifty_megabyte_username_leaves_no_large_audit_row(app_db):
    assert _login("u" * 50_000_000, "whatever password") == "wrong"
    with psycopg.connect(app_db) as conn:
        largest = conn.execute(
            "select coalesce(max(pg_column_size(a.*)), 0) from ops.audit_log as a"
        ).fetchone()[0]
        attempts = conn.execute("select max(length(username)) from ops.login_attempts").fetchone()[0]
    assert largest < 2000 and attempts <= 80


def test_hundred_character_password_gets_a_message_not_a_traceback(app_db):
    at = signed_in("viewer", "p" * 100)
    assert not at.exception
    assert any("at most 72 bytes" in e.value for e in at.error)
    assert "user" not in at.session_state
    config = tomllib.loads((APP_DIR / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] in ("none", False)


def test_disabled_users_fragments_stop_at_once(app_db):
    """A page run on its own (as its auto-refreshing fragments do, without the entry script)."""
    from streamlit.testing.v1 import AppTest

    from apps.streamlit.lib import auth

    user = auth.login("viewer", PASSWORD)
    at = AppTest.from_file(str(APP_DIR / "app_pages" / "executive.py"), default_timeout=120)
    at.session_state["user"] = user
    at.run()
    assert not at.exception and "user" in at.session_state
    auth.set_active("viewer", False, actor="test")
    at.run()
    assert "user" not in at.session_state
    assert not at.exception


def test_every_fragment_rechecks_the_session():
    pages = sorted((APP_DIR / "app_pages").glob("*.py"))
    plain = [p.name for p in pages if "@st.fragment" in p.read_text()]
    assert not plain, f"fragments without the session check: {plain}"


def test_download_stops_when_the_user_is_disabled(app_db):
    from apps.streamlit.lib import auth, ui

    user = auth.login("finance", PASSWORD, otp=current_code("finance"))
    download = ui.guarded_download("billing", user.session_id, lambda: b"invoice bytes")
    assert download() == b"invoice bytes"
    auth.set_active("finance", False, actor="test")
    with pytest.raises(PermissionError):
        download()


def test_password_change_ends_the_users_other_sessions(app_db):
    from apps.streamlit.lib import auth

    here = auth.login("analyst", PASSWORD)
    elsewhere = auth.login("analyst", PASSWORD)
    auth.change_password(here, PASSWORD, "a brand new passphrase")
    assert auth.check_session(elsewhere.session_id) is None
    assert auth.check_session(here.session_id) is not None
    assert auth.login("analyst", PASSWORD) is None
    assert auth.login("analyst", "a brand new passphrase") is not None


@pytest.mark.parametrize("role", ["admin", "finance"])
def test_second_factor_required_for_admin_and_finance(app_db, role):
    from apps.streamlit.lib import auth

    with pytest.raises(auth.LoginRefused):
        auth.login(role, PASSWORD)
    with pytest.raises(auth.LoginRefused):
        auth.login(role, PASSWORD, otp="000000" if current_code(role) != "000000" else "111111")
    assert auth.login(role, PASSWORD, otp=current_code(role)) is not None
    # through the form as well
    at = signed_in(role)
    assert "user" in at.session_state and not at.exception


def test_second_factor_not_enrolled_is_refused(app_db):
    from apps.streamlit.lib import auth

    auth.add_user("newadmin", "admin", PASSWORD, actor="test")
    with pytest.raises(auth.LoginRefused, match="hcp users mfa"):
        auth.login("newadmin", PASSWORD)
    assert auth.login("viewer", PASSWORD) is not None  # other roles need no code


def test_totp_code_cannot_be_replayed(app_db):
    """A code that signed in once is refused a second time, also inside its 30-second window and
    also when two sign-ins race with it."""
    import threading

    from apps.streamlit.lib import auth

    code = current_code("admin")
    assert auth.login("admin", PASSWORD, otp=code) is not None
    with pytest.raises(auth.LoginRefused, match="code"):
        auth.login("admin", PASSWORD, otp=code)
    # two sign-ins with one fresh code at once: one session, not two
    code = current_code("finance")
    results: list = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        barrier.wait()
        results.append(_login("finance", PASSWORD, otp=code))

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r if isinstance(r, str) else "session" for r in results) == ["refused", "session"]


def test_totp_secret_is_stored_encrypted(app_db):
    """The TOTP secret is kept under the PII key: no column of the user's row holds it in clear,
    and the code it generates still signs in."""
    import pyotp

    from apps.streamlit.lib import auth

    secret = auth.enroll_totp("admin", actor="test")
    with psycopg.connect(app_db) as conn:
        stored = conn.execute(
            "select row_to_json(u)::text from ops.app_users u where username = 'admin'"
        ).fetchone()[0]
    assert secret not in stored and secret.lower() not in stored.lower()
    assert auth.login("admin", PASSWORD, otp=pyotp.TOTP(secret).now()) is not None
