"""Dagster resources. Keys are short nouns that match asset parameters: ``postgres``, ``landing``."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from core import db
from core.migrate import prepare
from core.roles import PIPELINE_ROLE, role_url
from core.settings import get_settings


class PostgresResource(dg.ConfigurableResource):
    """The platform database: DATABASE_URL, else the embedded server, read from settings in the
    step's process. The URL carries a password and names the server every asset writes to, so the
    resource has no config fields: a run config (the UI's launchpad) that names one is rejected by
    Dagster's config validation, like the Stripe resource's. Assets connect as the pipeline role
    (``hcp_pipeline``), whatever user the URL names."""

    _url: str = PrivateAttr(default="")

    def __init__(self, **data: object) -> None:
        # Dagster's config models accept unknown keywords; here one would quietly mean the default
        # database, so a caller that names a URL is told where a fixed URL goes.
        if data:
            raise TypeError(
                f"PostgresResource takes no arguments (got {', '.join(sorted(data))}): "
                "use PostgresResource.at(url) for a fixed database"
            )
        super().__init__()

    @classmethod
    def at(cls, url: str) -> dg.ResourceDefinition:
        """The resource fixed to ``url`` for code that holds a URL itself (tests, benchmarks): a
        hardcoded resource, so it has no config schema either."""
        resource = cls()
        resource._url = url
        return dg.ResourceDefinition.hardcoded_resource(resource, "the platform database (fixed URL)")

    def get_url(self) -> str:
        url = self._url or db.database_url()
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
