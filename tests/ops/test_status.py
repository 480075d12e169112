"""``hcp status --json`` out of process: a probe gets a non-zero exit and the reasons when unhealthy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.settings import PROJECT_ROOT


def hcp_status(database_url: str, home: Path) -> tuple[int, dict]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HCP_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "hcp"), "status", "--json"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)


def test_status_reports_sources_checks_and_a_missing_daemon(database_url, conn, tmp_path):
    conn.execute("insert into raw.load_log (kind, source_file, finished_at, status) values"
                 " ('status_probe_kind', '/x/2026-11-18.csv', now() - interval '2 hours', 'succeeded')")  # fmt: skip
    conn.execute("insert into ops.check_results (suite, asset_key, passed, unexpected_count)"
                 " values ('status_probe', 'raw/site_meter', false, 3)")  # fmt: skip
    try:
        code, report = hcp_status(database_url, tmp_path)
    finally:
        conn.execute("delete from ops.check_results where suite = 'status_probe'")
        conn.execute("delete from raw.load_log where source_file = '/x/2026-11-18.csv'")
    assert code == 1 and report["healthy"] is False
    assert report["database"]["up"] is True and report["migrations"]["pending"] == []
    assert report["sources"]["status_probe_kind"]["lag_seconds"] >= 7200
    assert any(c["suite"] == "status_probe" for c in report["failing_checks"])
    assert "daemon heartbeat missing or stale" in report["problems"]
    assert report["failed_runs_24h"] == 0  # Dagster's storage (PostgreSQL) was reached


def test_status_when_the_database_is_down(tmp_path):
    code, report = hcp_status("postgresql://nobody:x@127.0.0.1:1/none", tmp_path)
    assert code == 1 and report["database"]["up"] is False and "database down" in report["problems"]
