"""Materialize assets in stages, as one click in the UI would: reference data, the days found in the
landing folder (one run for the whole range), then everything downstream."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from core import db
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
    from core.settings import get_settings

    root = get_settings().landing
    days: set[str] = set()
    for path in root.rglob("*") if root.exists() else []:
        match = _DAY.search(path.name)
        if match and path.is_file():
            days.add("-".join(match.groups()))
    return sorted(d for d in days if any(landing_files(root, s, [d]) for s in DAILY_SOURCES))


def plan_stages(
    defs: dg.Definitions, selection: str | None
) -> list[tuple[str, list[dg.AssetKey], str | None]]:
    """(stage name, asset keys, partitioning: None, "daily" or "monthly") in execution order for a
    selection string (None = everything)."""
    graph = defs.resolve_asset_graph()
    keys = (
        dg.AssetSelection.from_string(selection).resolve(graph)
        if selection
        else set(graph.materializable_asset_keys)
    )
    from assets.groups import INGESTION

    def partitioning(key: dg.AssetKey) -> str | None:
        partitions = graph.get(key).partitions_def
        if isinstance(partitions, dg.DailyPartitionsDefinition):
            return "daily"
        if isinstance(partitions, dg.MonthlyPartitionsDefinition):
            return "monthly"
        if partitions is not None:
            raise ValueError(f"{key.to_user_string()}: no materialize stage for {type(partitions).__name__}")
        return None

    def group(key: dg.AssetKey) -> str | None:
        return graph.get(key).group_name

    stages = [
        ("reference", sorted(k for k in keys if group(k) == INGESTION and partitioning(k) is None), None),
        ("daily", sorted(k for k in keys if partitioning(k) == "daily"), "daily"),
        ("downstream", sorted(k for k in keys if group(k) != INGESTION and partitioning(k) is None), None),
        ("monthly", sorted(k for k in keys if partitioning(k) == "monthly"), "monthly"),
    ]
    return [stage for stage in stages if stage[1]]


def _runs(name: str, keys: list[dg.AssetKey], partitioning: str | None, graph, days: list[str]):
    """(label, tags, partitions) of each run a stage needs: one run for a day range, one per month."""
    if partitioning is None:
        return [(name, {}, [])]
    if partitioning == "daily":
        if not days:
            return []
        tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
        return [(f"{name} {days[0]}..{days[-1]}", tags, days)]
    valid = set(graph.get(keys[0]).partitions_def.get_partition_keys())
    months = sorted({day[:7] + "-01" for day in days} & valid)
    return [(f"{name} {month[:7]}", {"dagster/partition": month}, [month]) for month in months]


def materialize(
    selection: str | None = None,
    days: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[StageResult]:
    """Run the selected assets (all by default) in stages: reference data, the landing days (one run
    for the range), everything unpartitioned downstream, then the monthly assets of the months those
    days fall in. Stops at the first failed run; returns each run's outcome."""
    from orchestration.definitions import defs

    ensure_dagster_home(db.database_url())  # runs land in the same Dagster storage as the daemon's
    instance = dg.DagsterInstance.get()
    graph = defs.resolve_asset_graph()
    days = days or landing_days()
    results = []
    for name, keys, partitioning in plan_stages(defs, selection):
        runs = _runs(name, keys, partitioning, graph, days)
        if not runs and progress:
            progress(f"{name}: no landing days (or no complete partitions) for {len(keys)} assets, skipped")
        for label, tags, partitions in runs:
            if progress:
                progress(f"{label}: {len(keys)} assets")
            job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(keys))
            outcome = job.execute_in_process(
                instance=instance, tags={"hcp/stage": name, **tags}, raise_on_error=False, run_config=_QUIET
            )
            results.append(
                StageResult(
                    name, [k.to_user_string() for k in keys], partitions, outcome.success, outcome.run_id
                )
            )
            if not outcome.success:
                return results
    return results
