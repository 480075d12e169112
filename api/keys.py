"""API keys: created, listed, rotated and revoked by the operator; verified on every request.

A key is shown once, as ``hcp_<key_id>_<secret>``: ``key_id`` (16 hex digits) is public and finds
the row, ``secret`` (256 random bits) proves possession. Only HMAC-SHA256(server secret, secret) is
stored. A slow KDF (bcrypt, scrypt) protects low-entropy passwords against guessing; a 256-bit
random secret cannot be guessed, so a KDF would only add ~100 ms to every request. The server
secret (a pepper kept outside the database) means a copy of ``ops.api_keys`` alone cannot even
test a candidate key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

READ_SCOPES = ("usage:read", "invoices:read", "workloads:read", "plan:read")
CUSTOMER_SCOPES = ("usage:read", "invoices:read", "workloads:read")
_TOKEN = re.compile(r"^hcp_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$")


class ApiKeyError(ValueError):
    """A key operation was refused; the message says why."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scope: str  # customer | operator
    customer_id: str | None
    read_scopes: tuple[str, ...]
    rate_per_minute: int

    @property
    def is_operator(self) -> bool:
        return self.scope == "operator"


def hash_secret(secret: str, server_secret: bytes) -> bytes:
    return hmac.new(server_secret, secret.encode(), hashlib.sha256).digest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    match = _TOKEN.match(token.strip())
    return (match[1], match[2]) if match else None


def _audit(conn, action: str, key_id: str, after: dict, actor: str) -> None:
    conn.execute(
        """insert into ops.audit_log (actor, action, entity, after)
           values (%s, %s, %s, %s::jsonb)""",
        (actor, action, f"ops.api_keys/{key_id}", json.dumps(after, default=str)),
    )


def _check_scopes(customer_id: str | None, scopes: list[str]) -> list[str]:
    allowed = CUSTOMER_SCOPES if customer_id else READ_SCOPES
    unknown = sorted(set(scopes) - set(allowed))
    if unknown:
        who = f"a key of customer {customer_id}" if customer_id else "an operator key"
        raise ApiKeyError(f"scopes {unknown} are not allowed for {who}; allowed: {list(allowed)}")
    if not scopes:
        raise ApiKeyError("a key needs at least one read scope")
    return sorted(set(scopes))


def create_key(
    conn: psycopg.Connection,
    server_secret: bytes,
    *,
    name: str,
    customer_id: str | None,
    scopes: list[str] | None = None,
    rate_per_minute: int = 600,
    actor: str,
    rotated_from: str | None = None,
) -> tuple[str, str]:
    """Create a key for one customer (``customer_id``) or for the operator (None).

    Returns (key_id, token); the token is never stored and cannot be shown again."""
    scopes = _check_scopes(customer_id, scopes or list(CUSTOMER_SCOPES if customer_id else READ_SCOPES))
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    with conn.transaction():
        conn.execute(
            """insert into ops.api_keys (key_id, secret_hash, name, scope, customer_id, read_scopes,
                   rate_per_minute, created_by, rotated_from)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                key_id,
                hash_secret(secret, server_secret),
                name,
                "customer" if customer_id else "operator",
                customer_id,
                scopes,
                rate_per_minute,
                actor,
                rotated_from,
            ),
        )
        _audit(
            conn,
            "api_key.create",
            key_id,
            {"customer_id": customer_id, "scopes": scopes, "rotated_from": rotated_from},
            actor,
        )
    return key_id, f"hcp_{key_id}_{secret}"


def list_keys(conn: psycopg.Connection) -> list[dict]:
    """Every key (never a secret or hash), newest first."""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """select key_id, name, scope, customer_id, read_scopes, rate_per_minute, created_at, created_by,
                  rotated_from, revoked_at
           from ops.api_keys order by created_at desc, key_id"""
        )
        .fetchall()
    )


def revoke_key(conn: psycopg.Connection, key_id: str, actor: str) -> datetime:
    """Revoke a key now; refused when it does not exist or is already revoked."""
    with conn.transaction():
        row = conn.execute(
            "update ops.api_keys set revoked_at = now() where key_id = %s and revoked_at is null returning revoked_at",
            (key_id,),
        ).fetchone()
        if row is None:
            raise ApiKeyError(f"key {key_id} does not exist or is already revoked")
        _audit(conn, "api_key.revoke", key_id, {"revoked_at": row[0]}, actor)
    return row[0]


def rotate_key(conn: psycopg.Connection, server_secret: bytes, key_id: str, actor: str) -> tuple[str, str]:
    """A new key with the same owner, scopes and rate; the old one is revoked in the same transaction."""
    with conn.transaction():
        old = conn.execute(
            """select name, customer_id, read_scopes, rate_per_minute from ops.api_keys
               where key_id = %s and revoked_at is null for update""",
            (key_id,),
        ).fetchone()
        if old is None:
            raise ApiKeyError(f"key {key_id} does not exist or is revoked")
        revoke_key(conn, key_id, actor)
        return create_key(
            conn,
            server_secret,
            name=old[0],
            customer_id=old[1],
            scopes=list(old[2]),
            rate_per_minute=old[3],
            actor=actor,
            rotated_from=key_id,
        )


def verify(conn: psycopg.Connection, token: str, server_secret: bytes) -> ApiKey | None:
    """The active key a token belongs to, or None (unknown, malformed, wrong secret or revoked)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = conn.execute(
        """select secret_hash, name, scope, customer_id, read_scopes, rate_per_minute
           from ops.api_keys where key_id = %s and revoked_at is null""",
        (key_id,),
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[0]), hash_secret(secret, server_secret)):
        return None
    return ApiKey(key_id, row[1], row[2], row[3], tuple(row[4]), row[5])
