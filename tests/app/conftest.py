"""App fixtures: scratch databases (seeded or empty) on the session's server, with a user per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.streamlit import synthetic
from apps.streamlit.benchmark import scratch_database
from tests.app.helpers import add_role_users, using


@pytest.fixture(scope="module")
def fleet_url(database_url: str) -> Iterator[str]:
    """A scratch database with a small synthetic fleet (2 facilities, 120 devices, 3 days) and users."""
    with scratch_database(database_url, "hcp_app_test") as url:
        synthetic.seed(url, facilities=2, devices=120, days=3)
        with using(url):
            add_role_users()
            yield url


@pytest.fixture(scope="module")
def empty_url(database_url: str) -> Iterator[str]:
    """A migrated scratch database with users and no data at all."""
    with scratch_database(database_url, "hcp_app_empty") as url, using(url):
        add_role_users()
        yield url
