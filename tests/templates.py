"""The session's template databases: what each holds and how it is built (once per session).

A builder gets the template's URL and its folder, with the platform pointed at both (``DATABASE_URL``,
``HCP_HOME``, ``DAGSTER_HOME``), and returns a JSON value its users read (``Template.meta``). Every
fleet is built by the real pipeline: simulator, loader, dbt, Dagster assets. ``cost`` is a rough
build time in seconds on 2 idle cores; xdist workers share the builds out by it at the start.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Spec:
    build: Callable[[str, Path], Any]
    base: str | None
    cost: float


def _migrated(url: str, folder: Path) -> None:
    from core.dbt import build_staging
    from core.migrate import migrate
    from core.roles import ensure_roles

    migrate(url)
    ensure_roles(url)  # the session's role logins (cluster-wide), before dbt runs as the pipeline
    # Python reads dbt staging, never raw: its views must exist before a test loads raw rows.
    build_staging(url, target_path=folder / "dbt-target")


MARTS_FLEET_END = datetime(2026, 3, 9, tzinfo=UTC)  # the fleet spans the US spring-forward day


def _marts_fleet(url: str, folder: Path) -> dict:
    """The dbt tests' fleet (2 facilities x 30 devices x 2 days) loaded, then ``dbt build
    --full-refresh``; returns the build's process (``vars``), artifacts in ``folder/dbt-target``."""
    from core.dbt import run_dbt
    from ingestion.loader import ingest_folder
    from ingestion.simulator import simulate

    landing = folder / "landing"
    simulate(landing, seed=11, facilities=2, devices=30, days=2, end=MARTS_FLEET_END, customers=4)
    ingest_folder(url, landing)
    build = run_dbt(url, "build", "--full-refresh", target_path=folder / "dbt-target", check=False)
    return vars(build)


# Small enough to build in about a minute and a half on 2 cores; 3 days so that the 24-hour KPI
# period has a previous period, and the forecasters have more than two daily seasons.
APP_FLEET = {
    "facilities": 2,
    "devices": 30,
    "days": 3,
    "customers": 3,
    "end": datetime(2026, 11, 20, tzinfo=UTC),
    "seed": 7,
}


def _app_fleet(url: str, folder: Path) -> None:
    """The app tests' fleet after every asset ran (``hcp materialize``'s code), with role users."""
    from benchmarks import app_fleet
    from tests.app.helpers import add_role_users, using

    app_fleet.build(url, folder / "fleet-home", **APP_FLEET)
    with using(url):
        add_role_users()


def _app_empty(url: str, folder: Path) -> None:
    """Migrated, no data, with role users."""
    from tests.app.helpers import add_role_users, using

    with using(url):
        add_role_users()


ALLOCATION_END = datetime(2026, 10, 8, tzinfo=UTC)


def _allocation_fleet(url: str, folder: Path) -> None:
    """2 facilities x 60 devices x 3 days in raw, and every dbt model fully rebuilt on them through
    Dagster."""
    import dagster as dg

    from assets.marts import defs as marts_defs
    from assets.marts import hcp_dbt_models
    from ingestion.loader import ingest_folder
    from ingestion.simulator import simulate

    landing = folder / "landing"
    simulate(landing, seed=5, facilities=2, devices=60, days=3, end=ALLOCATION_END, customers=3, workers=1)
    ingest_folder(url, landing)
    result = dg.materialize(
        [hcp_dbt_models],
        resources={"dbt": marts_defs.resources["dbt"]},
        run_config={"ops": {"hcp_dbt_models": {"config": {"full_refresh": True}}}},
        raise_on_error=False,
    )
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["marts", "fct_device_hourly"]) in materialized


ML_FLEET_END = datetime(2026, 11, 20, tzinfo=UTC)


def _ml_fleet(url: str, folder: Path) -> None:
    """1 facility x 40 devices x 3 days simulated into the template's landing folder and ingested
    through Dagster (``hcp materialize group:ingestion``)."""
    from core.dbt import build_staging
    from core.settings import get_settings
    from ingestion.simulator import simulate
    from orchestration.materialize import materialize

    simulate(get_settings().landing, seed=11, facilities=1, devices=40, days=3, end=ML_FLEET_END, customers=3)
    stages = materialize("group:ingestion")
    assert all(stage.success for stage in stages), stages
    # the ML loaders read dbt staging, whose telemetry table is incremental: bring it up to the raw rows
    build_staging(url, target_path=folder / "dbt-target")


BILLING_PERIOD = "2026-10"
BILLING_NOW = datetime(2026, 11, 10, tzinfo=UTC)


def _keep_few_miners(landing: Path, per_rack: int) -> None:
    """Keep the telemetry of a few ASICs per rack: colocation energy is metered from what is measured."""
    racks: dict[str, list[str]] = {}
    with (landing / "reference/devices.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["kind"] == "asic":
                racks.setdefault(row["rack"], []).append(row["device_id"])
    keep = {d for ids in racks.values() for d in ids[:per_rack]}
    for path in (landing / "telemetry/miner").glob("*.jsonl"):
        lines = [line for line in path.read_text().splitlines() if json.loads(line)["device_id"] in keep]
        path.write_text("\n".join(lines) + "\n")


def _billing_month(url: str, folder: Path) -> dict:
    """October 2026 in every customer's time zone: 33 days of data ending 2 Nov 00:00 UTC, loaded,
    seeded, usage built and the month finalized; returns what finalizing returned."""
    import psycopg

    from billing import invoices as inv
    from billing.seed import seed_defaults
    from ingestion.loader import ingest_folder
    from ingestion.simulator import simulate
    from tests.billing import factories as f

    landing = folder / "landing"
    simulate(
        landing,
        seed=11,
        facilities=1,
        devices=64,
        days=33,
        interval_minutes=60,
        end=datetime(2026, 11, 2, tzinfo=UTC),
        customers=6,
    )
    # Billing reads reference data, workload events, the facility's real-time prices and the ASIC
    # telemetry of colocation racks; the rest is left out to keep the test fast.
    for sub in ("prices/ercot_dam", "prices/pjm", "site_meter", "bitcoin", "telemetry/dcgm", "labels"):
        shutil.rmtree(landing / sub, ignore_errors=True)
    _keep_few_miners(landing, per_rack=3)
    ingest_folder(url, landing)
    with psycopg.connect(url, autocommit=True) as conn:
        seed_defaults(conn, actor="test")
        f.build_usage(conn)
        return inv.finalize_period(conn, BILLING_PERIOD, now=BILLING_NOW, actor="test")


SPECS: dict[str, Spec] = {
    "migrated": Spec(_migrated, None, 3),
    "marts_fleet": Spec(_marts_fleet, "migrated", 60),
    "app_fleet": Spec(_app_fleet, "migrated", 100),
    "app_empty": Spec(_app_empty, "migrated", 3),
    "allocation_fleet": Spec(_allocation_fleet, "migrated", 60),
    "ml_fleet": Spec(_ml_fleet, "migrated", 30),
    "billing_month": Spec(_billing_month, "migrated", 50),
}


def share(keys: set[str], workers: int) -> list[list[str]]:
    """The templates each of ``workers`` builds first: longest first, to the least loaded worker."""
    shares: list[list[str]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for key in sorted(keys, key=lambda k: (-SPECS[k].cost, k)):
        least = loads.index(min(loads))
        shares[least].append(key)
        loads[least] += SPECS[key].cost
    return shares
