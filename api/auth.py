"""Who calls: the API key of a request, its scopes, its rate limit, and the audit row of every use.

Every request that presents a key id (valid or not) leaves one row in the append-only
``ops.audit_log`` (api/audit.py): actor ``api-key:<key_id>``, the method, path, query and status.
Rate limits are per key, in a moving one-minute window held in this process (one server process
per deployment; several would need a shared store such as Redis, which ``limits`` also speaks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.keys import ApiKey, parse_token, verify

bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer hcp_<id>_<secret>`")


@dataclass
class Limiter:
    """Per-key moving-window rate limits."""

    limiter: MovingWindowRateLimiter

    @classmethod
    def in_memory(cls) -> Limiter:
        return cls(MovingWindowRateLimiter(MemoryStorage()))

    def allow(self, key: ApiKey) -> bool:
        return self.limiter.hit(RateLimitItemPerMinute(key.rate_per_minute), key.key_id)


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
        raise HTTPException(401, "the API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"})
    request.state.api_key = key
    if not state.limiter.allow(key):
        raise HTTPException(429, "rate limit of this key exceeded", headers={"Retry-After": "60"})
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
