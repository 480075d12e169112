"""App fixtures: scratch databases on the session's server, with a user per role: one holding a small
fleet built by the real pipeline (simulator, loader, dbt, ML, allocation and billing assets through
``hcp materialize``'s code), built once per session, and one migrated but empty."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from benchmarks import app_fleet as fleet
from core.db import scratch_database
from tests.app.helpers import add_role_users, using

END = datetime(2026, 11, 20, tzinfo=UTC)
# Small enough to build in about a minute and a half on 2 cores; 3 days so that the 24-hour KPI
# period has a previous period, and the forecasters have more than two daily seasons.
FLEET = {"facilities": 2, "devices": 30, "days": 3, "customers": 3, "end": END, "seed": 7}


@pytest.fixture(scope="session")
def pipeline_fleet(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a scratch database holding the simulated fleet after every asset ran, with role users."""
    with scratch_database(database_url, "hcp_app_fleet") as url:
        fleet.build(url, tmp_path_factory.mktemp("app-fleet"), **FLEET)
        with using(url):
            add_role_users()
        yield url


@pytest.fixture()
def fleet_url(pipeline_fleet: str) -> Iterator[str]:
    """The pipeline fleet, with the app (lib.db, caches) pointed at it for the test."""
    with using(pipeline_fleet) as url:
        yield url


@pytest.fixture(scope="module")
def empty_url(database_url: str) -> Iterator[str]:
    """A migrated scratch database with users and no data at all."""
    with scratch_database(database_url, "hcp_app_empty") as url, using(url):
        add_role_users()
        yield url
