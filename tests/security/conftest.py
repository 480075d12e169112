"""Security tests: each attack runs against its own migrated scratch database (throttling and
lockouts must not leak into other tests), on the session's real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.db import scratch_database
from tests.app.helpers import add_role_users, using


@pytest.fixture()
def app_db(database_url: str) -> Iterator[str]:
    """A migrated scratch database with one user per role, the app pointed at it."""
    with scratch_database(database_url, "hcp_sec") as url, using(url):
        add_role_users()
        yield url
