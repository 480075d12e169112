"""The append-only audit trail in ops.audit_log (a trigger rejects updates and deletes)."""

from __future__ import annotations

import getpass
import json
import os
from typing import Any

import psycopg


def current_actor() -> str:
    """Who acts: ``HCP_ACTOR`` if set, else the OS user."""
    try:
        return os.environ.get("HCP_ACTOR") or getpass.getuser()
    except OSError:  # no passwd entry in some containers
        return "unknown"


def write_audit(
    conn: psycopg.Connection,
    action: str,
    entity: str,
    before: Any = None,
    after: Any = None,
    actor: str | None = None,
) -> int:
    """Append one audit row (who, what, when, before/after) and return its audit_id.

    Callers pass no PII: amounts, ids and statuses only."""
    row = conn.execute(
        """insert into ops.audit_log (actor, action, entity, before, after)
           values (%s, %s, %s, %s::jsonb, %s::jsonb) returning audit_id""",
        (
            actor or current_actor(),
            action,
            entity,
            None if before is None else json.dumps(before, default=str),
            None if after is None else json.dumps(after, default=str),
        ),
    ).fetchone()
    return row[0]
