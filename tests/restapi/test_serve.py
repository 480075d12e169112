"""``hcp api serve`` itself, out of process: it lets hcp_api log in and serves as that role only."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import psycopg

from core.settings import PROJECT_ROOT
from tests.restapi.conftest import KEY_SECRET, _free_port


def test_hcp_api_serve(api_fleet, tmp_path) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": api_fleet.url, "HCP_API_KEY_SECRET": KEY_SECRET}
    env.pop("HCP_API_DATABASE_URL", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "api", "serve", "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.3)
        assert health.status_code == 200 and health.json()["database"] is True
        assert httpx.get(f"http://127.0.0.1:{port}/v1/usage").status_code == 401
        with psycopg.connect(api_fleet.url, autocommit=True) as conn:
            users = conn.execute(
                "select distinct usename from pg_stat_activity where application_name = 'hcp-api'"
            ).fetchall()
        assert users == [("hcp_api",)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "database role hcp_api" in log.read_text()
