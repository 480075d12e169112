"""GET /v1/health: the service answers and reaches its database (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/v1/health", response_model=Health, summary="Liveness and database reachability")
def health(request: Request, response: Response) -> dict:
    try:
        with request.app.state.pool.connection(timeout=2) as conn:
            version = conn.execute("select max(version) from public.schema_migrations").fetchone()[0]
    except Exception:  # noqa: BLE001 - health reports, never raises
        response.status_code = 503
        return {"status": "degraded", "database": False, "schema_version": None}
    return {"status": "ok", "database": True, "schema_version": version}
