"""The test session's PostgreSQL: one server, template databases built once, a clone per module or test.

Every process of a test session (the one pytest process, or each pytest-xdist worker) shares one
server and one folder, ``$HCP_TEST_ROOT``, made by the process that starts the session:

- the server is the embedded PostgreSQL in ``$HCP_TEST_ROOT/pgdata`` (started by the first worker
  that needs it, under a file lock; stopped by the starting process at the end), or the server of
  ``DATABASE_URL`` when that is set (the session's databases are dropped at the end);
- a template is a database built once per session by whichever worker needs it first (under a file
  lock named after it): the migrated schema, or a fleet built by the real pipeline. Once built it
  refuses connections, so ``CREATE DATABASE ... TEMPLATE`` never waits on a straggler;
- tests work on clones of a template: one per test module by default, one per test where a module
  asks for it (``pytest.mark.fresh_database``).

Database names start with ``t<run id>_`` so that sessions sharing an external server never meet.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from filelock import FileLock
from psycopg import sql

from core import db
from core.db import with_database

ROOT_ENV = "HCP_TEST_ROOT"  # the session's shared folder (locks, server, template artefacts)
RUN_ENV = "HCP_TEST_RUN"  # the session's id, the prefix of its database names
EXTERNAL_ENV = "HCP_TEST_EXTERNAL_URL"  # DATABASE_URL as the session found it, if any

# Settings for a throwaway server only: a crash loses nothing of value, and every commit, template
# copy and DROP DATABASE checkpoint skips the disk flushes.
_THROWAWAY = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}


def begin_session(root: Path) -> None:
    """Called once by the process that starts the test session, before any worker exists."""
    os.environ[ROOT_ENV] = str(root)
    os.environ[RUN_ENV] = uuid.uuid4().hex[:6]
    if os.environ.get("DATABASE_URL"):
        os.environ[EXTERNAL_ENV] = os.environ["DATABASE_URL"]


def end_session() -> None:
    """Called by the starting process once every worker is done: stop the server or drop the
    session's databases, and remove the shared folder."""
    root = Path(os.environ[ROOT_ENV])
    external = os.environ.get(EXTERNAL_ENV)
    if external:
        prefix = f"t{os.environ[RUN_ENV]}\\_%"
        with psycopg.connect(external, autocommit=True) as conn:
            names = [
                r[0] for r in conn.execute("select datname from pg_database where datname like %s", (prefix,))
            ]
            for name in names:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
    else:
        db.stop_embedded(root / "pgdata")
    shutil.rmtree(root, ignore_errors=True)


def server_cpu_seconds() -> float | None:
    """CPU time of the embedded server so far (postmaster and the backends it has reaped), or None."""
    root = os.environ.get(ROOT_ENV)
    if not root or os.environ.get(EXTERNAL_ENV):
        return None
    status = db.embedded_status(Path(root) / "pgdata")
    if not status["running"]:
        return None
    fields = Path(f"/proc/{status['pid']}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Template:
    """A template database, its folder of build artefacts (read only for its users) and the JSON
    value its builder returned."""

    name: str
    folder: Path
    meta: Any


class TestServer:
    """The session's PostgreSQL server, seen from one pytest process."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, admin_url: str, root: Path, run: str) -> None:
        self.admin_url = admin_url
        self.root = root
        self.run = run

    @classmethod
    def for_session(cls) -> TestServer:
        """Connect to the session's server, starting the embedded one if no process has yet."""
        root = Path(os.environ[ROOT_ENV])
        external = os.environ.get(EXTERNAL_ENV)
        if external:
            return cls(external, root, os.environ[RUN_ENV])
        with FileLock(root / "server.lock"):
            started = db.embedded_status(root / "pgdata")["running"]
            url = db.start_embedded(root / "pgdata")
            admin = with_database(url, "postgres")
            if not started:
                with psycopg.connect(admin, autocommit=True) as conn:
                    for setting, value in _THROWAWAY.items():
                        conn.execute(
                            sql.SQL("alter system set {} = {}").format(sql.Identifier(setting), value)
                        )
                    conn.execute("select pg_reload_conf()")
        return cls(admin, root, os.environ[RUN_ENV])

    def url(self, name: str) -> str:
        return with_database(self.admin_url, name)

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_url, autocommit=True)

    def create(self, kind: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` if given); returns its name."""
        name = f"t{self.run}_{kind}_{uuid.uuid4().hex[:6]}"[:63]
        statement = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            # FILE_COPY copies the template's files as they are: faster than WAL_LOG (which writes
            # every page to the WAL) for the fleets, and cheap on a server that does not fsync.
            statement += sql.SQL(" template {} strategy file_copy").format(sql.Identifier(template))
        with self._admin() as conn:
            conn.execute(statement)
        return name

    def drop(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))

    @contextlib.contextmanager
    def clone(self, template: str, kind: str = "db") -> Iterator[str]:
        """URL of a fresh copy of ``template``, dropped on exit."""
        name = self.create(kind, template)
        try:
            yield self.url(name)
        finally:
            self.drop(name)

    def template(self, key: str) -> Template:
        """The template ``key`` of :data:`tests.templates.SPECS`, built once per session by the first
        process that asks for it (after its base template).

        The builder fills the database (a copy of the base, or an empty database) with the platform
        pointed at it and at the template's folder (``platform_at``); what it returns must be JSON.
        A failed build is not retried: later askers get its error at once."""
        from benchmarks.app_fleet import platform_at
        from tests.templates import SPECS

        spec = SPECS[key]
        base = self.template(spec.base).name if spec.base else None
        folder = self.root / "templates" / key
        name = f"t{self.run}_tpl_{key}"[:63]
        done, failed = folder / "meta.json", folder / "failed.txt"
        (self.root / "templates").mkdir(exist_ok=True)
        with FileLock(self.root / "templates" / f"{key}.lock"):
            if done.exists():
                return Template(name, folder, json.loads(done.read_text()))
            if failed.exists():
                raise RuntimeError(
                    f"template {key} failed to build earlier in this session:\n{failed.read_text()}"
                )
            folder.mkdir(parents=True, exist_ok=True)
            statement = sql.SQL("create database {}").format(sql.Identifier(name))
            if base:
                statement += sql.SQL(" template {} strategy file_copy").format(sql.Identifier(base))
            with self._admin() as conn:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
                conn.execute(statement)
            try:
                with platform_at(self.url(name), folder):
                    meta = spec.build(self.url(name), folder)
                text = json.dumps(meta, default=str)
            except BaseException as err:
                failed.write_text(f"{type(err).__name__}: {err}"[-8000:])
                self.drop(name)
                raise
            with self._admin() as conn:
                # connections left by the build (pools, Dagster resources) would block every copy
                conn.execute(
                    sql.SQL("alter database {} with allow_connections false").format(sql.Identifier(name))
                )
                conn.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,)
                )
            done.write_text(text)
            return Template(name, folder, json.loads(text))


def completed_process(meta: dict) -> subprocess.CompletedProcess:
    """A CompletedProcess back from its JSON form (``vars(process)``)."""
    return subprocess.CompletedProcess(meta["args"], meta["returncode"], meta["stdout"], meta["stderr"])
