"""App fixtures: databases with a user per role, copied per test module from two templates built once
per session (tests/templates.py): ``app_fleet``, a small fleet built by the real pipeline
(simulator, loader, dbt, ML, allocation and billing assets through ``hcp materialize``'s code), and
``app_empty``, migrated but empty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.app.helpers import using
from tests.databases import Template, TestServer


@pytest.fixture(scope="module")
def pipeline_fleet(pg: TestServer, app_fleet_template: Template) -> Iterator[str]:
    """URL of the module's copy of the simulated fleet after every asset ran, with role users."""
    with pg.clone(app_fleet_template.name, "app_fleet") as url:
        yield url


@pytest.fixture()
def fleet_url(pipeline_fleet: str) -> Iterator[str]:
    """The pipeline fleet, with the app (lib.db, caches) pointed at it for the test."""
    with using(pipeline_fleet) as url:
        yield url


@pytest.fixture(scope="module")
def empty_url(pg: TestServer, app_empty_template: Template) -> Iterator[str]:
    """The module's migrated database with users and no data at all."""
    with pg.clone(app_empty_template.name, "app_empty") as url, using(url):
        yield url
