"""Shared fixtures: one PostgreSQL server per test session, a database of its own per test module.

The server and the templates are described in :mod:`tests.databases`. Each test module works on
its own copy of a template (``database_template``: the migrated schema unless a conftest or the
module says otherwise); a module marked ``fresh_database`` gives every test a copy of its own.
While a test runs, ``DATABASE_URL``, ``HCP_HOME`` and ``DAGSTER_HOME`` point at its database and a
folder of its module (or test), so subprocesses (the CLI, dbt, Dagster) use the same database.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from filelock import FileLock

from benchmarks.app_fleet import platform_at
from core.settings import environment
from tests import databases
from tests.databases import Template, TestServer
from tests.templates import SPECS, share

NO_DATABASE = "postgresql:///no_database_fixture_requested?host=/nonexistent-hcp-test-socket"


def _starts_the_session(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")  # the only process, or xdist's controller


def pytest_configure(config: pytest.Config) -> None:
    if _starts_the_session(config):
        # Not under pytest's basetemp: pytest resets /tmp/pytest-of-<user> to mode 0700 whenever a
        # session starts, which would lock the server's own system user out of its data folder.
        databases.begin_session(Path(tempfile.mkdtemp(prefix="hcp-test-pg-")))
    else:
        # Every xdist worker imports assets.marts while collecting; on a fresh clone that runs `dbt
        # parse` into dbt_project/target, which must happen once, not in two workers at a time.
        with FileLock(Path(os.environ[databases.ROOT_ENV]) / "dbt-parse.lock"):
            import assets.marts  # noqa: F401


def long_modules_first(modules: list[str], seconds: dict[str, float]) -> list[str]:
    """``modules`` (test files, in the shuffled order) with the long ones first, longest first, the
    rest after them in their order: under ``--dist loadfile`` a module runs whole on one worker, and
    a seven-minute module handed out last makes the whole suite wait for it alone."""
    return sorted(modules, key=lambda module: -seconds.get(module, 0.0))


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


def module_seconds(items: list[pytest.Item]) -> dict[str, float]:
    """Each test file of ``items``, in order of appearance, with the largest ``slow(seconds=N)`` of
    its tests (30 for a bare ``slow``, 0 unmarked)."""
    seconds: dict[str, float] = {}
    for item in items:
        marker = item.get_closest_marker("slow")
        value = float(marker.kwargs.get("seconds", 30)) if marker else 0.0
        seconds[_module(item)] = max(seconds.get(_module(item), 0.0), value)
    return seconds


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # after pytest-randomly's shuffle (a wrapper around this hook): modules marked
    # ``slow(seconds=...)`` move to the front; xdist keeps this order (--no-loadscope-reorder)
    seconds = module_seconds(items)
    rank = {module: i for i, module in enumerate(long_modules_first(list(seconds), seconds))}
    items.sort(key=lambda item: rank[_module(item)])


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if _starts_the_session(config):
        seconds = databases.server_cpu_seconds()
        if seconds is not None:
            terminalreporter.write_line(f"embedded PostgreSQL server CPU time: {seconds:.1f} s")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _starts_the_session(config) and databases.ROOT_ENV in os.environ:
        databases.end_session()


@pytest.fixture(scope="session", autouse=True)
def platform_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test runs with the CI environment, a test PII key and a throwaway data folder."""
    home = tmp_path_factory.mktemp("hcp-home")
    values = {"HCP_HOME": str(home), "HCP_ENV": "ci", "DAGSTER_HOME": str(home / "dagster")}
    values["HCP_PII_KEY"] = os.environ.get("HCP_PII_KEY") or base64.b64encode(b"k" * 32).decode()
    # Database roles are cluster-wide: every process of the session shares one password file.
    values["HCP_DB_PASSWORDS_FILE"] = str(Path(os.environ[databases.ROOT_ENV]) / "db_roles.json")
    # A test that uses the database asks for it (``database_url``, ``conn``, a fleet fixture);
    # one that does not gets this address, which fails at once and names the problem.
    values["DATABASE_URL"] = NO_DATABASE
    with environment(values):
        yield


@pytest.fixture(scope="session")
def pg(platform_env: None) -> TestServer:
    """The session's PostgreSQL server (shared by the xdist workers)."""
    return TestServer.for_session()


@pytest.fixture(scope="session", autouse=True)
def _share_template_builds(request: pytest.FixtureRequest, platform_env: None) -> None:
    """Under xdist, each worker first builds its share of the templates the session's tests need,
    so that no worker sits waiting on a lock while another builds what both need."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if workers < 2 or not worker.startswith("gw"):
        return
    needed = {
        key for item in request.session.items for key in SPECS if f"{key}_template" in item.fixturenames
    }
    mine = share(needed, workers)[int(worker[2:])]
    if mine:
        pg: TestServer = request.getfixturevalue("pg")
        for key in mine:
            pg.template(key)


def _template_fixture(key: str):
    def template(pg: TestServer) -> Template:
        return pg.template(key)

    template.__doc__ = f"The session's ``{key}`` template (tests.templates.SPECS)."
    return pytest.fixture(scope="session", name=f"{key}_template")(template)


# One fixture per template of tests.templates.SPECS, named <key>_template (migrated_template: every
# migration applied, no data).
for _key in SPECS:
    globals()[f"{_key}_template"] = _template_fixture(_key)


@pytest.fixture(scope="module")
def database_template(migrated_template: Template) -> Template:
    """What the module's databases are copied from; conftests and modules override it."""
    return migrated_template


@pytest.fixture(scope="module")
def module_url(
    pg: TestServer, database_template: Template, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The module's own database, a copy of ``database_template``, with the platform pointed at it."""
    home = tmp_path_factory.mktemp("module-home")
    with pg.clone(database_template.name, "mod") as url, platform_at(url, home):
        yield url


@pytest.fixture()
def database_url(
    request: pytest.FixtureRequest, pg: TestServer, database_template: Template, tmp_path: Path
) -> Iterator[str]:
    """The test's database: its module's, or under ``fresh_database`` a copy made for this test."""
    if request.node.get_closest_marker("fresh_database") is None:
        yield request.getfixturevalue("module_url")
        return
    with pg.clone(database_template.name, "test") as url, platform_at(url, tmp_path / "hcp-home"):
        yield url


@pytest.fixture()
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the test's database in autocommit mode."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection
