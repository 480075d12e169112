"""The app never reads raw (or staging/intermediate) tables: statically, and with a database role
that has no access to them at all."""

from __future__ import annotations

import re

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from core.roles import APP_ROLE
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
    """fleet_url as the app's own role, hcp_app (migration 0015): marts/ml/ops/billing only."""
    from apps.streamlit.lib import db

    with using(fleet_url):
        url = db.database_url()
        assert conninfo_to_dict(url)["user"] == APP_ROLE
        yield url


def test_pages_render_without_raw_privileges(restricted_url):
    from apps.streamlit.lib import ui

    with psycopg.connect(restricted_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from raw.devices limit 1")
    at = signed_in("admin")
    for key, (file, *_rest) in ui.PAGES.items():
        at.switch_page(file).run()
        assert not render_problems(at), (key, render_problems(at))
    assert ROLES
