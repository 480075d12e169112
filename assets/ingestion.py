"""Raw ingestion assets: one per source, loading landing files through ``ingestion.loader``.

Reference data (facilities, devices, customers, rate cards, demand response, Bitcoin economics) is
unpartitioned; telemetry, prices, site meters and workload events are partitioned by day, and a
partition loads the landing files named for that day. Loads are idempotent, so re-running a
partition is always safe. Transient database errors are retried.
"""

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg

from assets.groups import INGESTION
from assets.resources import LandingResource, PostgresResource
from core.settings import get_settings

# BackfillPolicy is beta in Dagster 1.13 but is the documented way to load a day range in one run.
warnings.filterwarnings("ignore", category=dg.BetaWarning)


@dataclass(frozen=True)
class RawSource:
    """A raw table and the landing files that feed it (globs relative to the landing root)."""

    table: str
    globs: tuple[str, ...]
    description: str
    daily: bool
    deps: tuple[str, ...] = ()
    also: tuple[str, ...] = ()  # other raw tables the same loads write (e.g. price nodes)


REFERENCE_SOURCES = (
    RawSource(
        "facilities", ("reference/facilities*.csv",), "Facilities: market, price node, cap, PUE.", False
    ),
    RawSource(
        "devices",
        ("reference/devices*.csv",),
        "Devices: ASICs and GPUs with nameplate and rack.",
        False,
        ("facilities",),
    ),
    RawSource("customers", ("reference/customers*.csv",), "Customers, PII encrypted on load.", False),
    RawSource(
        "rate_cards", ("reference/rate_cards*.csv",), "Rate cards, versioned by effective date.", False
    ),
    RawSource(
        "demand_response_events",
        ("reference/demand_response*.csv",),
        "Demand-response (curtailment) events and their credits.",
        False,
        ("facilities",),
    ),
    RawSource("btc_economics", ("bitcoin/*.csv",), "Bitcoin price, difficulty, subsidy and fees.", False),
)
DAILY_SOURCES = (
    RawSource(
        "energy_prices",
        ("prices/**/*{ymd}*.csv", "prices/**/*{iso}*.csv"),
        "Market prices (ERCOT RT/DAM, PJM, CAISO, normalized), interval start in UTC.",
        True,
    ),
    RawSource(
        "device_telemetry",
        (
            "telemetry/**/{iso}*.jsonl",
            "telemetry/**/{iso}*.prom",
            "telemetry/**/{iso}*.csv",
            "telemetry/**/{iso}*.parquet",
        ),
        "Device telemetry: miner API JSON, DCGM exporter text, normalized CSV/Parquet.",
        True,
        ("devices",),
    ),
    RawSource(
        "site_meter",
        ("site_meter/{iso}*.csv",),
        "Facility power at the utility meter.",
        True,
        ("facilities",),
    ),
    RawSource(
        "workload_events", ("workloads/*{iso}*.jsonl",), "Workload lifecycle events.", True, ("customers",)
    ),
)
RAW_SOURCES = REFERENCE_SOURCES + DAILY_SOURCES


def daily_partitions() -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=get_settings().partitions_start, end_offset=1)


def landing_files(root: Path, source: RawSource, days: Sequence[str] = ()) -> list[Path]:
    """Landing files of ``source``, for the given ISO days when the source is daily."""
    patterns: list[str] = []
    for pattern in source.globs:
        if source.daily:
            patterns += [pattern.format(iso=day, ymd=day.replace("-", "")) for day in days]
        else:
            patterns.append(pattern)
    found = {path for pattern in patterns for path in root.glob(pattern) if path.is_file()}
    return sorted(found)


class RawLoadConfig(dg.Config):
    """Which landing files a run loads: ``files`` (absolute paths, as the landing sensor lists them),
    or, when empty, every landing file of the source (of the run's days when it is daily)."""

    files: list[str] = []


def raw_load_run_config(table: str, files: Sequence[str]) -> dict:
    """Run config that loads exactly ``files`` into ``raw.<table>``."""
    return {"ops": {f"raw_{table}": {"config": {"files": list(files)}}}}


def listed_files(root: Path, source: RawSource, files: Sequence[str]) -> list[Path]:
    """The files a run was given, checked: inside the landing folder, not symlinks, of this source."""
    from ingestion.kinds import TABLE_OF, detect_kind

    root = root.resolve()
    checked = []
    for name in files:
        path = Path(name)
        if path.is_symlink():
            raise dg.Failure(f"{path}: symlink refused", allow_retries=False)
        if not path.resolve().is_relative_to(root):
            raise dg.Failure(f"{path}: outside the landing folder {root}", allow_retries=False)
        try:
            table = TABLE_OF[detect_kind(path)]
        except Exception:  # an unknown or unreadable file is reported by its load, on its own
            table = source.table
        if table != source.table and table not in source.also:
            raise dg.Failure(f"{path}: not a {source.table} file", allow_retries=False)
        checked.append(path)
    return checked


def _load(context: dg.AssetExecutionContext, url: str, files: Iterable[Path]) -> tuple[dict, dict]:
    """Ingest ``files``; returns the summed load log figures as asset metadata, and the files that
    failed with their errors (each bad file is reported on its own; the others still load)."""
    from ingestion.errors import IngestError
    from ingestion.kinds import detect_kind
    from ingestion.loader import ingest_file

    totals = {"files": 0, "rows_in": 0, "loaded": 0, "quarantined": 0, "duplicates_skipped": 0}
    load_ids = []
    failed = {}
    for path in files:
        try:
            result = ingest_file(url, detect_kind(path), path)
        except psycopg.OperationalError as err:  # connection dropped, server restarting: try again
            raise dg.RetryRequested(max_retries=3, seconds_to_wait=5) from err
        except IngestError as err:
            context.log.error(f"{path}: {err}")
            failed[str(path)] = str(err)
            continue
        context.log.info(f"{path.name}: {result.to_dict()}")
        totals["files"] += 1
        for key in ("rows_in", "loaded", "quarantined", "duplicates_skipped"):
            totals[key] += getattr(result, key)
        load_ids.append(result.load_id)
    if totals["files"] == 0 and not failed:
        context.log.warning("no landing files for this asset/partition")
    return {**totals, "load_ids": dg.MetadataValue.json(load_ids), "failed_files": len(failed)}, failed


def _raw_asset(source: RawSource) -> dg.AssetsDefinition:
    partitions = daily_partitions() if source.daily else None
    deps = [dg.AssetKey(["raw", dep]) for dep in source.deps]
    specs = [
        dg.AssetSpec(
            ["raw", table],
            group_name=INGESTION,
            kinds={"postgres"},
            deps=deps,
            partitions_def=partitions,
            description=source.description
            if table == source.table
            else f"Written by raw/{source.table} loads.",
        )
        for table in (source.table, *source.also)
    ]

    @dg.multi_asset(
        name=f"raw_{source.table}",
        specs=specs,
        backfill_policy=dg.BackfillPolicy.single_run() if source.daily else None,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL),
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: RawLoadConfig,
        postgres: PostgresResource,
        landing: LandingResource,
    ):
        if config.files:
            files = listed_files(landing.path(), source, config.files)
        else:
            files = landing_files(
                landing.path(), source, list(context.partition_keys) if source.daily else []
            )
        metadata, failed = _load(context, postgres.get_url(), files)
        for spec in specs:
            yield dg.MaterializeResult(asset_key=spec.key, metadata=metadata)
        if failed:  # after the good files' materializations, so downstream work still follows them
            raise dg.Failure(
                f"{len(failed)} of {len(files)} landing files failed to load",
                metadata={"failed": dg.MetadataValue.json(failed)},
                allow_retries=False,
            )

    return _asset


raw_assets = [_raw_asset(source) for source in RAW_SOURCES]
daily_raw_keys = [dg.AssetKey(["raw", s.table]) for s in DAILY_SOURCES]
reference_raw_keys = [dg.AssetKey(["raw", s.table]) for s in REFERENCE_SOURCES]

ingest_daily_job = dg.define_asset_job(
    "ingest_daily",
    selection=dg.AssetSelection.assets(*daily_raw_keys),
    partitions_def=daily_partitions(),
    description="Load one day of prices, telemetry, site meters and workload events (or the listed files).",
)
ingest_reference_job = dg.define_asset_job(
    "ingest_reference",
    selection=dg.AssetSelection.assets(*reference_raw_keys),
    description="Load reference data: facilities, devices, customers, rate cards, Bitcoin economics.",
)
