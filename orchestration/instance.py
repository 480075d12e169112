"""Dagster's instance folder (DAGSTER_HOME) under the data folder, with usage telemetry off."""

from __future__ import annotations

import os
from pathlib import Path

from core.settings import get_settings

DAGSTER_YAML = """\
# Written by hcp: Dagster's own storage (runs, event log, schedules) in this folder.
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator.queued_run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
"""


def ensure_dagster_home() -> Path:
    """Create ``$HCP_HOME/dagster`` with its dagster.yaml and point DAGSTER_HOME at it."""
    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().home / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    return home
