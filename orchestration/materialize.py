"""Materialize assets in stages, as one click in the UI would: reference data, the days found in the
landing folder (one run for the whole range), then everything downstream."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from orchestration.instance import ensure_dagster_home

_DAY = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


# Step-level DEBUG events stay in the run's event log (the UI shows them); the shell gets INFO and up.
_QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class StageResult:
    name: str
    asset_keys: list[str]
    partitions: list[str] = field(default_factory=list)
    success: bool = True
    run_id: str | None = None


def landing_days() -> list[str]:
    """ISO days that have daily landing files, sorted."""
    from assets.ingestion import DAILY_SOURCES, landing_files
    from orchestration.settings import get_settings

    root = get_settings().landing
    days: set[str] = set()
    for path in root.rglob("*") if root.exists() else []:
        match = _DAY.search(path.name)
        if match and path.is_file():
            days.add("-".join(match.groups()))
    return sorted(d for d in days if any(landing_files(root, s, [d]) for s in DAILY_SOURCES))


def plan_stages(defs: dg.Definitions, selection: str | None) -> list[tuple[str, list[dg.AssetKey], bool]]:
    """(stage name, asset keys, partitioned) in execution order for a selection string (None = all)."""
    graph = defs.resolve_asset_graph()
    keys = (
        dg.AssetSelection.from_string(selection).resolve(graph)
        if selection
        else set(graph.materializable_asset_keys)
    )
    from assets.groups import INGESTION

    def is_daily(key: dg.AssetKey) -> bool:
        return graph.get(key).partitions_def is not None

    def group(key: dg.AssetKey) -> str | None:
        return graph.get(key).group_name

    stages = [
        ("reference", sorted(k for k in keys if group(k) == INGESTION and not is_daily(k)), False),
        ("daily", sorted(k for k in keys if is_daily(k)), True),
        ("downstream", sorted(k for k in keys if group(k) != INGESTION and not is_daily(k)), False),
    ]
    return [stage for stage in stages if stage[1]]


def materialize(
    selection: str | None = None,
    days: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[StageResult]:
    """Run the selected assets (all by default) in stages; returns each stage's outcome."""
    from orchestration.definitions import defs

    ensure_dagster_home()
    instance = dg.DagsterInstance.get()
    results = []
    for name, keys, partitioned in plan_stages(defs, selection):
        tags: dict[str, str] = {"hcp/stage": name}
        stage_days: list[str] = []
        if partitioned:
            stage_days = days or landing_days()
            if not stage_days:
                if progress:
                    progress(f"{name}: no landing days found, skipped")
                continue
            tags["dagster/asset_partition_range_start"] = stage_days[0]
            tags["dagster/asset_partition_range_end"] = stage_days[-1]
        if progress:
            span = f" {stage_days[0]}..{stage_days[-1]}" if stage_days else ""
            progress(f"{name}: {len(keys)} assets{span}")
        job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(keys))
        outcome = job.execute_in_process(
            instance=instance, tags=tags, raise_on_error=False, run_config=_QUIET
        )
        results.append(
            StageResult(name, [k.to_user_string() for k in keys], stage_days, outcome.success, outcome.run_id)
        )
        if not outcome.success:
            break
    return results
