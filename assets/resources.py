"""Dagster resources. Keys are short nouns that match asset parameters: ``postgres``, ``landing``."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from core import db
from core.migrate import prepare
from core.roles import PIPELINE_ROLE, role_url
from core.settings import get_settings


class PostgresResource(dg.ConfigurableResource):
    """The platform database. Empty ``url`` means: DATABASE_URL, else the embedded server. Assets
    connect as the pipeline role (``hcp_pipeline``), whatever user ``url`` names."""

    url: str = ""

    def get_url(self) -> str:
        url = self.url or db.database_url()
        prepare(url)  # cheap when current; makes a fresh database usable from any entry point
        return role_url(url, PIPELINE_ROLE)


class LandingResource(dg.ConfigurableResource):
    """The landing folder that simulators and feeds drop files into."""

    root: str = ""

    def path(self) -> Path:
        return Path(self.root) if self.root else get_settings().landing


def default_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "postgres": PostgresResource(),
        "landing": LandingResource(),
    }
