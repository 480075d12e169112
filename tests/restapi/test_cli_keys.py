"""``hcp api keys create|list|rotate|revoke`` out of process, with the keys used on the served API."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from unittest import mock

import psycopg

from core.settings import PROJECT_ROOT
from tests.restapi.conftest import KEY_SECRET


def _hcp(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "HCP_API_KEY_SECRET": KEY_SECRET, "HCP_ACTOR": "cli-test"}
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "api", "keys", *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@contextlib.contextmanager
def _in_process(url: str):
    from typer.testing import CliRunner

    from api.config import get_api_settings
    from core.settings import get_settings
    from orchestration.cli import app

    env = {"DATABASE_URL": url, "HCP_API_KEY_SECRET": KEY_SECRET, "HCP_ACTOR": "cli-test"}
    with mock.patch.dict(os.environ, env):
        get_settings.cache_clear()
        get_api_settings.cache_clear()
        try:
            yield lambda *args: CliRunner().invoke(app, ["api", "keys", *args])
        finally:
            get_settings.cache_clear()
            get_api_settings.cache_clear()


def test_keys_lifecycle(api_server, api_fleet) -> None:
    cid = api_fleet.customers[1]
    created = _hcp(api_fleet.url, "create", "--name", "portal", "--customer", cid, "--json")
    assert created.returncode == 0, created.stderr
    first = json.loads(created.stdout)
    assert first["token"].startswith(f"hcp_{first['key_id']}_")
    assert api_server.client(first["token"]).get("/v1/usage").status_code == 200

    listed = json.loads(_hcp(api_fleet.url, "list", "--json").stdout)["keys"]
    mine = next(k for k in listed if k["key_id"] == first["key_id"])
    assert mine["customer_id"] == cid and mine["revoked_at"] is None
    assert first["token"].split("_")[2] not in json.dumps(listed)  # the secret is never shown again
    with psycopg.connect(api_fleet.url) as conn:
        stored = conn.execute(
            "select secret_hash from ops.api_keys where key_id = %s", (first["key_id"],)
        ).fetchone()[0]
    assert len(bytes(stored)) == 32 and first["token"].split("_")[2].encode() not in bytes(stored)

    rotated = json.loads(_hcp(api_fleet.url, "rotate", first["key_id"], "--json").stdout)
    assert rotated["rotated_from"] == first["key_id"]
    assert api_server.client(first["token"]).get("/v1/usage").status_code == 401
    assert api_server.client(rotated["token"]).get("/v1/usage").status_code == 200

    assert _hcp(api_fleet.url, "revoke", rotated["key_id"]).returncode == 0
    assert api_server.client(rotated["token"]).get("/v1/usage").status_code == 401
    with _in_process(api_fleet.url) as hcp:  # refusals: the messages, without the start-up cost
        again = hcp("revoke", rotated["key_id"])
        assert again.exit_code == 1 and "already revoked" in again.output
        both = hcp("create", "--name", "x", "--customer", cid, "--operator")
        assert both.exit_code == 1 and "exactly one" in both.output
        nobody = hcp("create", "--name", "x", "--customer", "cust-nobody")
        assert nobody.exit_code == 1 and "does not exist" in nobody.output
        plan_scope = hcp("create", "--name", "x", "--customer", cid, "--scope", "plan:read")
        assert plan_scope.exit_code == 1 and "not allowed" in plan_scope.output
    with psycopg.connect(api_fleet.url) as conn:
        actions = conn.execute(
            "select action from ops.audit_log where actor = 'cli-test' order by audit_id"
        ).fetchall()
    assert [a[0] for a in actions] == ["api_key.create", "api_key.revoke", "api_key.create", "api_key.revoke"]
