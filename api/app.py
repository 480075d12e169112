"""The FastAPI application: ``create_app()`` (uvicorn's factory) wires settings, the hcp_api pool,
the audit middleware and the /v1 routers (rate limits live in PostgreSQL: api/auth.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api.audit import AuditMiddleware, AuditWriter
from api.config import get_api_settings, key_secret
from api.db import make_pool
from api.routes import health, invoices, plans, stripe_webhook, usage, workloads

VERSION = "1.0.0"
DESCRIPTION = """Usage, invoices, credit notes, workloads and the allocation plan of the HCP platform.

Authenticate with an API key (`hcp api keys create`): `Authorization: Bearer hcp_<id>_<secret>`.
A customer key reads its own customer's data only; operator keys read every customer and the plan.
Lists are paged with `limit` and `next_cursor`; money is a decimal string; times are UTC."""


def _database_url() -> str:
    configured = get_api_settings().database_url
    if not configured:
        raise RuntimeError("HCP_API_DATABASE_URL is not set: start the API with `hcp api serve`")
    return configured


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = make_pool(_database_url(), get_api_settings().pool_size)
    app.state.key_secret = key_secret()
    app.state.audit = AuditWriter(app.state.pool)
    try:
        yield
    finally:
        app.state.audit.close()  # queued audit rows are written before the pool closes
        app.state.pool.close()


def create_app(with_lifespan: bool = True) -> FastAPI:
    """The application; ``with_lifespan=False`` builds it without a database (for the spec)."""
    app = FastAPI(
        title="HCP platform API",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan if with_lifespan else None,
    )

    app.add_middleware(AuditMiddleware)
    for module in (health, usage, invoices, workloads, plans, stripe_webhook):
        app.include_router(module.router)
    return app
