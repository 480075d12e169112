"""Users, passwords, sessions and the audit trail; the `hcp users` commands."""

from __future__ import annotations

import psycopg
from typer.testing import CliRunner

from tests.app.helpers import PASSWORD, signed_in


def _audit(url: str, action: str, actor: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select count(*) from ops.audit_log where action = %s and actor = %s", (action, actor)
        ).fetchone()[0]


def test_passwords_are_bcrypt_hashed(empty_url):
    with psycopg.connect(empty_url) as conn:
        stored = conn.execute("select password_hash from ops.app_users where username = 'viewer'").fetchone()[
            0
        ]
    assert stored.startswith("$2") and PASSWORD not in stored


def test_wrong_password_refused_and_audited(empty_url):
    from apps.streamlit.lib import auth

    auth.add_user("walter", "viewer", PASSWORD, actor="test")
    at = signed_in("walter", "not the password")
    assert "Unknown user or wrong password." in [e.value for e in at.error]
    assert "user" not in at.session_state
    assert _audit(empty_url, "login_failed", "walter") == 1
    at = signed_in("walter")
    assert at.title[0].value == "Executive"
    assert _audit(empty_url, "login", "walter") == 1


def test_expired_or_disabled_session_signs_out(empty_url):
    from apps.streamlit.lib import auth

    at = signed_in("operator")
    assert at.title[0].value == "Operations"
    with psycopg.connect(empty_url) as conn:
        conn.execute(
            "update ops.app_sessions set expires_at = now() - interval '1 second' where username = 'operator'"
        )
    at.run()
    assert any("expired" in w.value for w in at.warning)
    assert at.text_input(key="login_username") is not None

    at = signed_in("operator")
    assert at.title[0].value == "Operations"
    auth.set_active("operator", False, actor="test")
    at.run()
    assert "user" not in at.session_state


def test_cli_users_add_list_disable(empty_url):
    from orchestration.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["users", "add", "dana", "--role", "finance", "--password-stdin"], input="s3cret-pass\n"
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["users", "add", "eve", "--role", "root", "--password-stdin"], input="x" * 10 + "\n"
    )
    assert result.exit_code != 0
    result = runner.invoke(app, ["users", "list", "--json"])
    assert '"username": "dana"' in result.output and '"role": "finance"' in result.output
    result = runner.invoke(app, ["users", "mfa", "dana"])
    assert result.exit_code == 0 and "otpauth://totp/" in result.output
    at = signed_in("dana", "s3cret-pass")
    assert at.title[0].value == "Billing" or at.title[0].value == "Executive"
    assert runner.invoke(app, ["users", "disable", "dana"]).exit_code == 0
    at = signed_in("dana", "s3cret-pass")
    assert "user" not in at.session_state


def test_missing_database_is_explained(empty_url):
    # empty_url, not database_url: the module database would repoint the app for the later tests
    from core.db import with_database
    from tests.app.helpers import using

    missing = with_database(empty_url, "hcp_no_such_database")
    with using(missing):
        at = signed_in("admin")
    assert not at.exception
    assert "hcp db start" in at.error[0].value
