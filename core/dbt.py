"""The project's dbt runner: the dbt CLI of this virtualenv, on the platform's dbt project."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from core.db import libpq_env
from core.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# this virtualenv's dbt, whatever PATH says (a code server or daemon may start without the venv's bin/)
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"


def dbt_env(url: str) -> dict[str, str]:
    """The environment for a dbt subprocess on ``url``, logging in as the pipeline role (dbt owns
    its schemas as ``hcp_pipeline``): PG* variables, no tracking."""
    from core.roles import PIPELINE_ROLE, role_url

    return {
        **os.environ,
        **libpq_env(role_url(url, PIPELINE_ROLE)),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "HCP_ENV": os.environ.get("HCP_ENV", "local"),
    }


def run_dbt(
    url: str,
    *args: str,
    target_path: Path | None = None,
    check: bool = True,
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run the dbt CLI of this virtualenv on the project against ``url``; artifacts in ``target_path``.
    ``on_line`` receives each line of dbt's output as it is printed (progress of long runs)."""
    cmd = [
        str(DBT_EXECUTABLE),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
    ]
    if target_path is not None:
        cmd += ["--target-path", str(target_path), "--log-path", str(target_path)]
    if on_line is None:
        done = subprocess.run(cmd, env=dbt_env(url), capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    else:
        lines = []
        with subprocess.Popen(
            cmd,
            env=dbt_env(url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=DBT_PROJECT_DIR,
        ) as proc:
            for line in proc.stdout:
                lines.append(line)
                on_line(line.rstrip())
        done = subprocess.CompletedProcess(cmd, proc.returncode, "".join(lines), "")
    if check and done.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}")
    return done


def build_staging(url: str, target_path: Path | None = None, full_refresh: bool = False) -> None:
    """Build dbt staging on ``url`` (views, and the incremental telemetry table): what Python reads
    instead of raw. A fresh database needs it once before anything reads staging."""
    args = ["run", "--select", "staging"] + (["--full-refresh"] if full_refresh else [])
    run_dbt(url, *args, target_path=target_path)
