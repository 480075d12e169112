"""API fixtures: the app tests' pipeline-built fleet with its invoices finalized and a credit note,
the API served out of process by uvicorn as hcp_api, and keys of every kind."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from api.db import api_database_url, enable_login
from api.keys import create_key, revoke_key
from billing.invoices import finalize_invoice
from core.migrate import migrate
from core.settings import PROJECT_ROOT
from tests.databases import Template, TestServer

KEY_SECRET = "test-api-key-secret-0123456789abcdef"
WEBHOOK_SECRET = "whsec_test_0123456789abcdefghijklmnop"
AFTER_PERIOD = datetime(2026, 12, 10, tzinfo=UTC)


@dataclass
class Fleet:
    url: str
    customers: list[str]
    invoices: dict[str, list[int]] = field(default_factory=dict)  # finalized, per customer
    credit_notes: dict[str, list[int]] = field(default_factory=dict)
    drafts: dict[str, list[int]] = field(default_factory=dict)
    workloads: dict[str, str] = field(default_factory=dict)  # one per customer


def _credit_note(conn: psycopg.Connection, invoice_id: int) -> int:
    """A finalized credit note of 1.00 USD on ``invoice_id`` (a draft note, then the real finalization)."""
    cid, period, start, end, tz = conn.execute(
        "select customer_id, period, period_start, period_end, timezone from billing.invoices where invoice_id = %s",
        (invoice_id,),
    ).fetchone()
    note = conn.execute(
        """insert into billing.invoices (kind, refers_to, customer_id, period, period_start, period_end, timezone,
               subtotal_usd, total_usd, reason)
           values ('credit_note', %s, %s, %s, %s, %s, %s, -1.00, -1.00, 'goodwill') returning invoice_id""",
        (invoice_id, cid, period, start, end, tz),
    ).fetchone()[0]
    conn.execute(
        """insert into billing.invoice_lines (invoice_id, line_no, line_kind, description, quantity, unit,
               unit_price_usd, amount_usd) values (%s, 1, 'adjustment', 'Goodwill credit', 1, 'each', -1, -1.00)""",
        (note,),
    )
    finalize_invoice(conn, note, now=AFTER_PERIOD, actor="test")
    return note


@pytest.fixture(scope="session")
def fleet_database(pg: TestServer, app_fleet_template: Template) -> Iterator[str]:
    """A copy of the app tests' pipeline-built fleet (the ``app_fleet`` template); or, when
    ``HCP_TEST_FLEET_TEMPLATE`` names a database on the same server that holds such a fleet (built
    by the same code), a copy of that one, migrated."""
    template = os.environ.get("HCP_TEST_FLEET_TEMPLATE")
    with pg.clone(template or app_fleet_template.name, "api_fleet") as url:
        if template:
            migrate(url)
        yield url


@pytest.fixture(scope="session")
def api_fleet(fleet_database: str) -> Fleet:
    """The pipeline fleet with every customer's invoices finalized (but one draft kept) and a
    credit note on the first customer's invoice."""
    with psycopg.connect(fleet_database, autocommit=True) as conn:
        customers = [r[0] for r in conn.execute("select customer_id from marts.dim_customers order by 1")]
        fleet = Fleet(fleet_database, customers)
        drafts = conn.execute(
            "select invoice_id, customer_id from billing.invoices where status = 'draft' order by invoice_id"
        ).fetchall()
        for invoice_id, cid in drafts:
            if cid == customers[-1] and not fleet.drafts.get(cid):
                fleet.drafts.setdefault(cid, []).append(invoice_id)  # stays a draft: operators only
                continue
            finalize_invoice(conn, invoice_id, now=AFTER_PERIOD, actor="test", check_inputs=False)
            fleet.invoices.setdefault(cid, []).append(invoice_id)
        first = customers[0]
        fleet.credit_notes[first] = [_credit_note(conn, fleet.invoices[first][0])]
        for cid, wid in conn.execute(
            "select customer_id, min(workload_id) from marts.fct_workload_sessions group by 1"
        ):
            fleet.workloads[cid] = wid
    assert len(customers) >= 2 and all(fleet.invoices.get(c) for c in customers[:2]), fleet
    return fleet


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


@contextlib.contextmanager
def serve(fleet: Fleet, log: Path) -> Iterator[Server]:
    """``uvicorn api.app:create_app`` in its own process on 127.0.0.1, connected as hcp_api."""
    enable_login(fleet.url, None)
    port = _free_port()
    env = {
        **os.environ,
        "HCP_API_DATABASE_URL": api_database_url(fleet.url),
        "HCP_API_KEY_SECRET": KEY_SECRET,
        "HCP_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    env.pop("DATABASE_URL", None)  # the server gets the least-privilege login only
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.base_url}/v1/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the API did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="session")
def api_server(api_fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The API served out of process (see :func:`serve`)."""
    with serve(api_fleet, tmp_path_factory.mktemp("api") / "uvicorn.log") as server:
        yield server


@dataclass
class Keys:
    operator: str
    customer: dict[str, str]  # customer id -> token with every customer scope
    usage_only: str  # first customer, usage:read only
    limited: str  # first customer, 3 requests per minute
    revoked: str
    ids: dict[str, str] = field(default_factory=dict)  # token -> key id


@pytest.fixture(scope="session")
def keys(api_fleet: Fleet) -> Keys:
    secret = KEY_SECRET.encode()
    ids: dict[str, str] = {}
    with psycopg.connect(api_fleet.url, autocommit=True) as conn:

        def make(**kwargs) -> str:
            key_id, token = create_key(conn, secret, actor="test", **kwargs)
            ids[token] = key_id
            return token

        operator = make(name="ops", customer_id=None)
        customer = {cid: make(name=cid, customer_id=cid) for cid in api_fleet.customers}
        first = api_fleet.customers[0]
        usage_only = make(name="usage", customer_id=first, scopes=["usage:read"])
        limited = make(name="slow", customer_id=first, rate_per_minute=3)
        revoked = make(name="gone", customer_id=first)
        revoke_key(conn, ids[revoked], "test")
    return Keys(operator, customer, usage_only, limited, revoked, ids)
