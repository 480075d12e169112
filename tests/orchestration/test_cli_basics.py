"""``hcp --version`` and ``hcp docs``, run as a user runs them: the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HCP = str(Path(sys.executable).parent / "hcp")


def test_version_prints_the_package_version():
    from importlib.metadata import version

    done = subprocess.run([HCP, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"hcp {version('hcp-platform')}"


def test_docs_builds_the_dbt_site_against_the_platform_database(database_url, tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}  # no venv bin/ on PATH
    done = subprocess.run(
        [HCP, "docs", "--no-serve", "--out", str(site)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (site / "index.html").exists()
    manifest = json.loads((site / "manifest.json").read_text())
    assert any(key.startswith("model.hcp.fct_") or ".fct_" in key for key in manifest["nodes"])
    catalog = json.loads((site / "catalog.json").read_text())
    assert "nodes" in catalog
