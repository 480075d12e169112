"""Attack 10: a run launched from the Dagster UI (here: the dagster CLI, out of process) that
overrides the Stripe resource's endpoint must be rejected before any request carries the key."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.db import scratch_database
from core.settings import PROJECT_ROOT

KEY = "sk_test_secret_that_must_stay_home"


class _Collector:
    """An attacker's HTTP server on 127.0.0.1 that records every request it receives."""

    def __init__(self) -> None:
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                seen.append((self.path, self.headers.get("Authorization")))
                self.send_response(500)
                self.end_headers()

            do_GET = do_POST = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def attacker() -> Iterator[_Collector]:
    server = _Collector()
    yield server
    server.close()


def _launch_stripe_sync(
    url: str, config: Path, home: Path, env: dict[str, str]
) -> subprocess.CompletedProcess:
    """``dagster asset materialize`` of billing/stripe_sync with run config ``config``, out of
    process (as the UI's launchpad would start it), on the database ``url``."""
    dagster = Path(sys.executable).with_name("dagster")
    environ = {**os.environ, "DATABASE_URL": url, "DAGSTER_HOME": str(home)}
    for name in ("STRIPE_API_BASE", "STRIPE_API_KEY"):
        environ.pop(name, None)
    return subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "orchestration.definitions",
         "--select", "billing/stripe_sync", "--partition", "2026-10-01", "-c", str(config)],
        cwd=PROJECT_ROOT, env={**environ, **env}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_launchpad_cannot_redirect_the_stripe_key(database_url, attacker, tmp_path: Path):
    config = tmp_path / "run.yaml"
    config.write_text(
        f"resources:\n  stripe:\n    config:\n      api_base: {attacker.url}\n      api_key: {KEY}\n"
    )
    with scratch_database(database_url, "hcp_sec_dagster") as url:
        done = _launch_stripe_sync(url, config, tmp_path, {"STRIPE_API_KEY": KEY})
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert "api_base" in output  # Dagster names the field it refused
    assert attacker.seen == []


def test_launchpad_cannot_repoint_the_database(database_url, tmp_path: Path):
    """The database URL (with its password) comes from settings only: a run config naming
    ``resources.postgres.config.url`` is rejected by config validation, and nothing connects to the
    server it names."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    config = tmp_path / "run.yaml"
    config.write_text(
        f"resources:\n  postgres:\n    config:\n      url: postgresql://hcp:pw@127.0.0.1:{port}/stolen\n"
    )
    try:
        with scratch_database(database_url, "hcp_sec_dagster_pg") as url:
            done = _launch_stripe_sync(url, config, tmp_path, {})
        connected = []
        try:
            while True:
                connected.append(listener.accept())
        except TimeoutError:
            pass
    finally:
        listener.close()
    output = done.stdout + done.stderr
    assert connected == [], "the run connected to the server named in run config"
    assert done.returncode != 0, output[-3000:]
    assert 'unexpected config entry "url"' in output


@pytest.mark.parametrize("field", ["url", "database_url"])
def test_code_cannot_repoint_the_database_by_a_keyword(field: str):
    """In code, too: a keyword the resource does not have is an error, not silently the default
    database (``PostgresResource(url=...)`` once ran a benchmark against the platform's database)."""
    from assets.resources import PostgresResource

    with pytest.raises(TypeError, match=rf"{field}.*PostgresResource\.at"):
        PostgresResource(**{field: "postgresql://hcp@127.0.0.1/elsewhere"})
    assert PostgresResource.at("postgresql://hcp@127.0.0.1/elsewhere") is not None
