"""Who calls: the API key of a request, its scopes, its rate limit, and the audit row of every use.

Every request that presents a key id (valid or not) leaves one row in the append-only
``ops.audit_log`` (api/audit.py): actor ``api-key:<key_id>``, the method, path, query and status.
Rate limits are per key, in fixed one-minute windows counted in PostgreSQL
(``ops.api_rate_windows``), so every API process behind a load balancer draws on the same budget.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.keys import ApiKey, parse_token, verify

bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer hcp_<id>_<secret>`")


# One statement a request: count the hit in the key's current window (UPSERT, so concurrent
# processes serialize on the row) and drop the key's past windows, which nothing reads again.
_HIT = """
with past as (
    delete from ops.api_rate_windows where key_id = %(key)s and window_start < date_trunc('minute', now())
)
insert into ops.api_rate_windows as w (key_id, window_start, hits)
values (%(key)s, date_trunc('minute', now()), 1)
on conflict (key_id, window_start) do update set hits = w.hits + 1
returning w.hits, ceil(extract(epoch from w.window_start + interval '1 minute' - now()))::integer
"""


def rate_limit(conn: psycopg.Connection, key: ApiKey) -> int | None:
    """Count one request of ``key``; None while it is within its rate per minute, else the seconds
    until its window ends (for ``Retry-After``)."""
    hits, seconds_left = conn.execute(_HIT, {"key": key.key_id}).fetchone()
    return None if hits <= key.rate_per_minute else max(seconds_left, 1)


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> ApiKey:
    if credentials is None:
        raise HTTPException(401, "an API key is required", headers={"WWW-Authenticate": "Bearer"})
    parsed = parse_token(credentials.credentials)
    if parsed:
        request.state.audit_key_id = parsed[0]  # audited even when the secret is wrong
    state = request.app.state
    with state.pool.connection() as conn:
        key = verify(conn, credentials.credentials, state.key_secret)
        if key is None:
            raise HTTPException(
                401, "the API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
            )
        request.state.api_key = key
        retry_after = rate_limit(conn, key)
    if retry_after is not None:
        raise HTTPException(429, "rate limit of this key exceeded", headers={"Retry-After": str(retry_after)})
    return key


def require(scope: str, operator_only: bool = False) -> Callable[..., ApiKey]:
    """A dependency: the calling key, which must hold ``scope`` (and be an operator key if asked)."""

    def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> ApiKey:
        key = _authenticate(request, credentials)
        if operator_only and not key.is_operator:
            raise HTTPException(403, "operator keys only")
        if scope not in key.read_scopes:
            raise HTTPException(403, f"this key lacks the {scope} scope")
        return key

    return dependency


def customer_filter(key: ApiKey, requested: str | None) -> str | None:
    """The customer a query is restricted to: a customer key's own (asking for another is 403), or
    what an operator key asked for (None: all customers)."""
    if key.is_operator:
        return requested
    if requested is not None and requested != key.customer_id:
        raise HTTPException(403, "this key reads its own customer's data only")
    return key.customer_id
