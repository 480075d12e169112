"""A simulated fleet through the real pipeline, for the app's tests and ``hcp bench app``.

The simulator writes landing files, then :func:`orchestration.materialize.materialize` (what
``hcp materialize`` runs) builds every asset on them in process: ingestion, the dbt marts, forecasts
and anomalies, the allocation plan and backtest, and the month's invoices. The platform is pointed
at the given database and a throwaway home folder (landing files, Dagster runs, reports) for the
duration, so the developer's own data and Dagster instance are never touched.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypedDict, Unpack

from core.settings import environment, get_settings


def platform_at(url: str, home: Path) -> contextlib.AbstractContextManager[None]:
    """Point the platform (settings, Dagster instance) at database ``url`` and folder ``home``."""
    return environment({"DATABASE_URL": url, "HCP_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")})


class FleetSize(TypedDict, total=False):
    """The simulator's size options (its defaults where left out)."""

    facilities: int
    devices: int
    days: int
    customers: int
    end: datetime | None


def build(
    url: str,
    home: Path,
    *,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
    **size: Unpack[FleetSize],
) -> list[str]:
    """Simulate a fleet into ``home``/landing and materialize every asset into ``url``.

    Returns the names of the stages that ran; raises RuntimeError naming the first failed run."""
    from core.pii import create_key, key_path
    from ingestion.simulator import simulate
    from orchestration.materialize import materialize

    with platform_at(url, home):
        if not os.environ.get("HCP_PII_KEY") and not key_path().exists():
            create_key()  # the throwaway platform's own key, in its throwaway home
        simulate(get_settings().landing, seed=seed, **size)
        stages = materialize(progress=progress)
    failed = [stage for stage in stages if not stage.success]
    if failed or not stages:
        where = f"stage {failed[0].name}, run {failed[0].run_id}" if failed else "no stage ran"
        raise RuntimeError(f"materializing the simulated fleet failed: {where}")
    return [stage.name for stage in stages]
