"""The audit row of every request that presents an API key id, written off the request path.

A pure ASGI middleware notes the response status; a writer thread appends the rows to the
append-only ``ops.audit_log`` in batches (one transaction per batch, at most ``interval`` seconds
after the response), so a request costs no extra round trip. Rows still queued when the server
stops are written before it exits; a process killed outright loses at most the last batch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from typing import Any

from psycopg_pool import ConnectionPool

from api.keys import ApiKey

log = logging.getLogger("hcp.api.audit")
_STOP = object()


class AuditWriter:
    """Batches audit rows into ops.audit_log from one background thread."""

    def __init__(self, pool: ConnectionPool, interval: float = 0.1, batch: int = 500) -> None:
        self.pool, self.interval, self.batch = pool, interval, batch
        self.rows: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="hcp-api-audit", daemon=True)
        self.thread.start()

    def write(self, row: tuple[str, str, str, str]) -> None:
        self.rows.put(row)

    def close(self) -> None:
        self.rows.put(_STOP)
        self.thread.join(timeout=30)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self.rows.get()
            pending = []
            if first is _STOP:
                stopping = True
            else:
                pending.append(first)
            with contextlib.suppress(queue.Empty):
                while len(pending) < self.batch:
                    item = self.rows.get(timeout=self.interval if not stopping else 0)
                    if item is _STOP:
                        stopping = True
                        continue
                    pending.append(item)
            if pending:
                self._flush(pending)

    def _flush(self, pending: list[tuple]) -> None:
        try:
            with self.pool.connection() as conn, conn.transaction():
                conn.cursor().executemany(
                    "insert into ops.audit_log (actor, action, entity, after) values (%s, %s, %s, %s::jsonb)",
                    pending,
                )
        except Exception:  # noqa: BLE001 - never lose the thread; the log says what was not written
            log.exception("could not write %d audit rows: %s", len(pending), pending[:3])


def audit_row(scope: dict[str, Any], status: int) -> tuple[str, str, str, str] | None:
    """The row of one request, or None when it presented no key id."""
    state = scope.get("state") or {}
    key: ApiKey | None = state.get("api_key")
    key_id = key.key_id if key else state.get("audit_key_id")
    if key_id is None:
        return None
    path = scope["path"]
    query = scope.get("query_string", b"").decode("latin-1") or None
    after = {
        "method": scope["method"],
        "path": path,
        "query": query,
        "status": status,
        "customer_id": key.customer_id if key else None,
    }
    action = "api.request" if key else "api.denied"
    return (f"api-key:{key_id}", action, f"{scope['method']} {path}", json.dumps(after))


class AuditMiddleware:
    """Pure ASGI: notes the status of each HTTP response and queues its audit row."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def noting_send(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            row = audit_row(scope, status["code"])
            if row is not None:
                scope["app"].state.audit.write(row)
