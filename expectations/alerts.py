"""Alerts: a row in ``ops.alerts`` and, when configured, a hook that carries the alert elsewhere.

Nothing leaves the machine unless an operator configures it:
- ``HCP_ALERT_WEBHOOK``: a URL that receives the alert as a JSON POST (Slack/Teams/PagerDuty
  adapters, an internal endpoint);
- ``HCP_ALERT_COMMAND``: a shell command that receives the alert as JSON on stdin (mail, a pager CLI).
A failing hook never loses the alert: the row is written first, and the hook's error is stored on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import psycopg

HOOK_TIMEOUT_S = 10
CHECK_ALERT_QUIET = timedelta(hours=6)  # a still-failing check alerts again after this


@dataclass
class Alert:
    """One alert; ``payload`` holds the details (failing expectations, sample rows, run URL)."""

    source: str  # run_failure | check_failure | manual
    title: str
    severity: str = "ERROR"
    asset_key: str | None = None
    check_name: str | None = None
    partition_key: str | None = None
    run_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def _recently_raised(conn: psycopg.Connection, alert: Alert, quiet_for: timedelta) -> bool:
    row = conn.execute(
        """select 1 from ops.alerts
           where source = %s and check_name is not distinct from %s and asset_key is not distinct from %s
             and partition_key is not distinct from %s and raised_at > now() - %s
           limit 1""",
        (alert.source, alert.check_name, alert.asset_key, alert.partition_key, quiet_for),
    ).fetchone()
    return row is not None


def _run_hook(alert: Alert) -> tuple[str | None, str | None]:
    body = json.dumps(asdict(alert), default=str).encode()
    webhook = os.environ.get("HCP_ALERT_WEBHOOK")
    command = os.environ.get("HCP_ALERT_COMMAND")
    if webhook:
        request = urllib.request.Request(
            webhook, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=HOOK_TIMEOUT_S) as response:
                return "webhook", "ok" if response.status < 300 else f"HTTP {response.status}"
        except OSError as err:  # URLError, timeouts, refused connections
            return "webhook", f"error: {err}"[:500]
    if command:
        try:
            done = subprocess.run(
                command, shell=True, input=body, capture_output=True, timeout=HOOK_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return "command", f"error: timed out after {HOOK_TIMEOUT_S}s"
        if done.returncode == 0:
            return "command", "ok"
        return "command", f"error: exit {done.returncode}: {done.stderr.decode(errors='replace')}"[:500]
    return None, None


def raise_alert(url: str, alert: Alert, quiet_for: timedelta | None = None) -> int | None:
    """Write ``alert`` to ``ops.alerts``, run the configured hook, record its outcome; returns the alert id.

    With ``quiet_for``, an alert for the same check, asset and partition raised within that time
    is not repeated (returns None): a stale feed checked every 15 minutes pages once, not 4 times
    an hour.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        if quiet_for is not None and _recently_raised(conn, alert, quiet_for):
            return None
        alert_id = conn.execute(
            """insert into ops.alerts (source, severity, title, asset_key, check_name, partition_key,
                   run_id, payload) values (%s, %s, %s, %s, %s, %s, %s, %s) returning alert_id""",
            (
                alert.source,
                alert.severity,
                alert.title,
                alert.asset_key,
                alert.check_name,
                alert.partition_key,
                alert.run_id,
                json.dumps(alert.payload, default=str),
            ),
        ).fetchone()[0]
        hook, status = _run_hook(alert)
        if hook:
            conn.execute(
                "update ops.alerts set hook = %s, hook_status = %s where alert_id = %s",
                (hook, status, alert_id),
            )
    return alert_id
