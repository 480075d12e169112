"""Sensors: the landing-folder watcher that starts ingestion for new or changed files."""

import json
import re
from pathlib import Path

import dagster as dg

from assets.ingestion import RAW_SOURCES, RawSource
from assets.resources import LandingResource

_DAY = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def route(root: Path, path: Path) -> tuple[RawSource, str | None] | None:
    """The raw source a landing file feeds and its partition day (None for reference data)."""
    relative = path.relative_to(root)
    for source in RAW_SOURCES:
        if not source.daily:
            if any(relative.match(pattern) for pattern in source.globs):
                return source, None
            continue
        match = _DAY.search(path.name)
        if not match:
            continue
        iso = "-".join(match.groups())
        patterns = [p.format(iso=iso, ymd=iso.replace("-", "")) for p in source.globs]
        if any(path in root.glob(pattern) for pattern in patterns):
            return source, iso
    return None


@dg.sensor(
    name="landing_folder_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts ingestion of new or changed files in the landing folder, one run per file.",
)
def landing_folder_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
    root = landing.path()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    if not root.exists():
        return dg.SkipReason(f"landing folder {root} does not exist yet")
    requests = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        stamp = f"{stat.st_mtime_ns}:{stat.st_size}"  # size too: coarse mtimes miss quick rewrites
        if seen.get(str(path)) == stamp:
            continue
        routed = route(root, path)
        seen[str(path)] = stamp
        if routed is None:
            continue
        source, day = routed
        requests.append(
            dg.RunRequest(
                run_key=f"{path}:{stamp}",
                asset_selection=[dg.AssetKey(["raw", source.table])],
                partition_key=day,
                tags={"hcp/landing_file": str(path)},
            )
        )
    context.update_cursor(json.dumps(seen))
    return requests or dg.SkipReason("no new landing files")
