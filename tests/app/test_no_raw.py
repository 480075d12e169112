"""The app never reads raw (or staging/intermediate) tables: statically, and with a database role
that has no access to them at all."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest

from core.db import with_login
from tests.app.helpers import APP_DIR, ROLES, render_problems, signed_in, using

FORBIDDEN = re.compile(r"\b(raw|staging|intermediate)\.[a-z_]+", re.IGNORECASE)


def test_no_sql_against_raw_schemas():
    sources = [APP_DIR / "streamlit_app.py", *APP_DIR.glob("lib/*.py"), *APP_DIR.glob("app_pages/*.py")]
    assert len(sources) > 10
    for path in sources:
        hits = FORBIDDEN.findall(path.read_text())
        assert not hits, f"{path} mentions {hits}"


@pytest.fixture()
def restricted_url(fleet_url):
    """fleet_url as a login role that may read marts/ml/ops/billing only (nothing in raw)."""
    role = f"hcp_app_ro_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(fleet_url, autocommit=True) as conn:
        conn.execute(f"create role {role} login password 'ro-pass'")
        conn.execute(f"revoke all on schema raw, staging, intermediate from {role}")
        for schema in ("marts", "ml", "ops", "billing"):
            conn.execute(f"grant usage on schema {schema} to {role}")
            conn.execute(f"grant select on all tables in schema {schema} to {role}")
        conn.execute(
            f"grant insert, update on ops.app_sessions, ops.app_users, ops.audit_log, ops.login_attempts to {role}"
        )
        conn.execute(f"grant usage on all sequences in schema ops to {role}")
    url = with_login(fleet_url, role, "ro-pass")
    try:
        with using(url):
            yield url
    finally:
        with psycopg.connect(fleet_url, autocommit=True) as conn:
            conn.execute(f"drop owned by {role}")
            conn.execute(f"drop role {role}")


def test_pages_render_without_raw_privileges(restricted_url):
    from apps.streamlit.lib import ui

    with psycopg.connect(restricted_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from raw.devices limit 1")
    at = signed_in("admin")
    for key, (file, *_rest) in ui.PAGES.items():
        at.switch_page(file).run()
        assert not render_problems(at), (key, render_problems(at))
    assert ROLES
