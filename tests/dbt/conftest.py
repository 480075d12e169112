"""A small fleet in raw and the dbt project built on it, shared by the dbt tests.

The fleet comes from the simulator through the loader (2 facilities x 30 devices x 2 days); dbt
runs as a subprocess with the PG* variables of the test database and its artifacts in a temporary
target folder (the developer's dbt_project/target is left alone).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from core.dbt import run_dbt
from tests.conftest import truncate_schema

END = datetime(2026, 3, 9, tzinfo=UTC)  # the fleet spans the US spring-forward day, 2026-03-08


@pytest.fixture(scope="session")
def dbt_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt-target")


@pytest.fixture(scope="session")
def marts_fleet(database_url: str, dbt_target: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Raw tables loaded with a simulated fleet and ``dbt build --full-refresh`` run once on it."""
    from ingestion.loader import ingest_folder
    from ingestion.simulator import simulate

    with psycopg.connect(database_url, autocommit=True) as conn:
        truncate_schema(conn, "raw")
    landing = tmp_path_factory.mktemp("dbt-landing")
    simulate(landing, seed=11, facilities=2, devices=30, days=2, end=END, customers=4)
    ingest_folder(database_url, landing)
    build = run_dbt(database_url, "build", "--full-refresh", target_path=dbt_target, check=False)
    results = json.loads((dbt_target / "run_results.json").read_text())
    return {"url": database_url, "build": build, "results": results, "target": dbt_target}
