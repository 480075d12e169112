"""The one environment switch: every setting the platform reads, from the environment.

Nothing is read at import time; call :func:`get_settings` where a value is needed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from unittest import mock

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Environment(StrEnum):
    LOCAL = "local"
    CI = "ci"
    PROD = "prod"


class Settings(BaseSettings):
    """Platform settings; each field maps to an ``HCP_*`` variable unless an alias says otherwise."""

    model_config = SettingsConfigDict(env_prefix="HCP_", extra="ignore")

    env: Environment = Environment.LOCAL
    home: Path = Field(
        default=PROJECT_ROOT / ".hcp", description="data folder: database, landing files, reports"
    )
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    dagster_port: int = 3000
    streamlit_port: int = 8501
    pii_key: str | None = Field(default=None, description="base64 AES-256 key for customer PII")
    analyst_password: str | None = None
    db_passwords_file: Path | None = Field(
        default=None, description="the database roles' passwords (default $HCP_HOME/secrets/db_roles.json)"
    )
    stripe_api_key: str | None = Field(default=None, alias="STRIPE_API_KEY", repr=False)
    stripe_api_base: str | None = Field(
        default=None, alias="STRIPE_API_BASE", description="another Stripe endpoint (tests' local server)"
    )
    partitions_start: str = Field(default="2025-01-01", description="first day of the daily partitions")
    automation: bool = Field(default=True, description="schedules and sensors run when served (off: stopped)")
    landing_settle_seconds: float = Field(
        default=5.0, description="a landing file is taken once unmodified for this long"
    )
    grpc_port: int = Field(default=4266, description="the Dagster code server (hcp serve)")
    max_runs: int = Field(default=6, description="Dagster runs at once on this machine (-1: no cap)")
    backup_passphrase: str | None = Field(default=None, description="seals the PII key inside backups")
    backup_keep_days: int = Field(default=14, description="nightly backups older than this are deleted")
    anomaly_score_max_rows: int = Field(
        default=4_000_000,
        description="telemetry rows one anomaly scoring read holds (with its lead-in): bounds its memory",
        gt=0,
    )
    anomaly_backfill_hours: int = Field(
        default=7 * 24,
        description="hours a first anomaly run (or one after an outage) scores back: a big fleet brought "
        "up on days of history scores the last hours first",
        gt=0,
    )
    raw_keep_days: int = Field(
        default=35,
        description="raw telemetry day partitions older than this are dropped once the marts hold them",
    )

    @property
    def backups(self) -> Path:
        return self.home / "backups"

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def dbt_target(self) -> str:
        return self.env.value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """The process environment with ``values`` set for the block, settings re-read from it; the
    environment as it was (and settings re-read) after."""
    # patch.dict restores the whole environment, so what the block itself set goes too
    with mock.patch.dict(os.environ, values):
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()
