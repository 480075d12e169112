"""The API served out of process (uvicorn, as hcp_api) on the pipeline-built fleet: keys, scopes,
customer isolation on every endpoint, pagination, time filters, ETags, rate limits, audit."""

from __future__ import annotations

import time

import psycopg
import pytest

from api.app import create_app
from api.db import api_database_url
from api.keys import create_key
from tests.restapi.conftest import KEY_SECRET, serve

LISTS = ["/v1/usage", "/v1/invoices", "/v1/credit-notes", "/v1/workloads", "/v1/sessions"]
PLAN = ["/v1/plans", "/v1/plans/current", "/v1/plans/{plan_id}", "/v1/plans/{plan_id}/devices"]
DETAILS = {
    "/v1/invoices/{invoice_id}": "invoice",
    "/v1/invoices/{invoice_id}/pdf": "invoice",
    "/v1/credit-notes/{invoice_id}": "credit_note",
    "/v1/workloads/{workload_id}": "workload",
}
UNAUTHENTICATED = {"/v1/health": "GET", "/v1/stripe/webhook": "POST"}


def _owner_paths(fleet) -> dict[str, str]:
    """Every per-customer detail path, filled with a document of the first customer."""
    owner = fleet.customers[0]
    ids = {
        "invoice": fleet.invoices[owner][0],
        "credit_note": fleet.credit_notes[owner][0],
        "workload": fleet.workloads[owner],
    }
    return {path: path.replace("{invoice_id}", str(ids[kind])).replace("{workload_id}", str(ids[kind]))
            for path, kind in DETAILS.items()}  # fmt: skip


def test_every_route_is_in_the_isolation_tables() -> None:
    """A new endpoint must be added to the tables below, so that its isolation is tested."""
    paths = create_app(with_lifespan=False).openapi()["paths"]
    routes = {(path, method.upper()) for path, item in paths.items() for method in item}
    tested = {(p, "GET") for p in LISTS + PLAN + list(DETAILS)} | set(UNAUTHENTICATED.items())
    assert routes == tested


def test_health_needs_no_key(api_server) -> None:
    body = api_server.client().get("/v1/health").json()
    assert body["status"] == "ok" and body["database"] and body["schema_version"] >= 10


def test_server_connects_as_least_privilege_role(api_server, api_fleet) -> None:
    api_server.client().get("/v1/health")
    with psycopg.connect(api_fleet.url, autocommit=True) as conn:
        users = {
            r[0]
            for r in conn.execute("select usename from pg_stat_activity where application_name = 'hcp-api'")
        }
        assert users == {"hcp_api"}
    with psycopg.connect(api_database_url(api_fleet.url), autocommit=True) as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (
            False,
        )
        for forbidden in ("select * from raw.customers", "select * from ops.app_users",
                          "update billing.invoices set total_usd = 0", "delete from ops.audit_log",
                          "insert into ops.api_keys (key_id) values ('0')"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)


@pytest.mark.parametrize("path", LISTS + PLAN + list(DETAILS))
def test_no_key_bad_key_revoked_key(api_server, api_fleet, keys, path) -> None:
    path = _owner_paths(api_fleet).get(path, path).replace("{plan_id}", "current")
    assert api_server.client().get(path).status_code == 401
    assert api_server.client("hcp_0123456789abcdef_" + "x" * 43).get(path).status_code == 401
    assert api_server.client(keys.revoked).get(path).status_code == 401
    wrong_secret = keys.operator[:-4] + ("aaaa" if not keys.operator.endswith("aaaa") else "bbbb")
    assert api_server.client(wrong_secret).get(path).status_code == 401


@pytest.mark.parametrize("path", LISTS)
def test_customer_lists_hold_only_their_own_rows(api_server, api_fleet, keys, path) -> None:
    owner, intruder = api_fleet.customers[0], api_fleet.customers[1]
    seen = {}
    for cid in (owner, intruder):
        response = api_server.client(keys.customer[cid]).get(path, params={"limit": 1000})
        assert response.status_code == 200, response.text
        seen[cid] = {row["customer_id"] for row in response.json()["data"]}
        assert seen[cid] <= {cid}
    assert seen[owner] == {owner}  # the owner has rows of every kind, so the filter is not vacuous
    refused = api_server.client(keys.customer[intruder]).get(path, params={"customer_id": owner})
    assert refused.status_code == 403
    everyone = api_server.client(keys.operator).get(path, params={"limit": 1000}).json()["data"]
    assert owner in {row["customer_id"] for row in everyone}


@pytest.mark.parametrize("path", list(DETAILS))
def test_customer_details_of_another_customer_are_not_found(api_server, api_fleet, keys, path) -> None:
    owner, intruder = api_fleet.customers[0], api_fleet.customers[1]
    filled = _owner_paths(api_fleet)[path]
    assert api_server.client(keys.customer[owner]).get(filled).status_code == 200
    assert api_server.client(keys.operator).get(filled).status_code == 200
    response = api_server.client(keys.customer[intruder]).get(filled)
    assert response.status_code == 404
    assert owner not in response.text


@pytest.mark.parametrize("path", PLAN)
def test_plan_is_for_operator_keys_only(api_server, api_fleet, keys, path) -> None:
    plan_id = api_server.client(keys.operator).get("/v1/plans/current").json()["plan_id"]
    filled = path.replace("{plan_id}", plan_id)
    assert api_server.client(keys.operator).get(filled).status_code == 200
    for token in keys.customer.values():
        assert api_server.client(token).get(filled).status_code == 403


def test_customer_keys_do_not_see_drafts(api_server, api_fleet, keys) -> None:
    cid = api_fleet.customers[-1]
    draft = api_fleet.drafts[cid][0]
    assert api_server.client(keys.customer[cid]).get(f"/v1/invoices/{draft}").status_code == 404
    mine = api_server.client(keys.customer[cid]).get("/v1/invoices").json()["data"]
    assert all(row["status"] != "draft" for row in mine)
    assert api_server.client(keys.operator).get(f"/v1/invoices/{draft}").json()["status"] == "draft"


def test_scopes_limit_what_a_key_reads(api_server, keys) -> None:
    client = api_server.client(keys.usage_only)
    assert client.get("/v1/usage").status_code == 200
    assert client.get("/v1/invoices").status_code == 403
    assert client.get("/v1/workloads").status_code == 403


@pytest.mark.parametrize("path", LISTS + ["/v1/plans", "/v1/plans/{plan_id}/devices"])
def test_cursor_pages_walk_the_whole_list(api_server, keys, path) -> None:
    client = api_server.client(keys.operator)
    path = path.replace("{plan_id}", "current")
    whole = client.get(path, params={"limit": 1000}).json()
    assert whole["next_cursor"] is None and len(whole["data"]) >= 1
    walked, cursor = [], None
    for _ in range(len(whole["data"]) + 1):
        page = client.get(
            path, params={"limit": max(1, len(whole["data"]) // 3), **({"cursor": cursor} if cursor else {})}
        ).json()
        walked += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == whole["data"]
    assert client.get(path, params={"cursor": "not-a-cursor"}).status_code == 400


def test_time_filters(api_server, api_fleet, keys) -> None:
    client = api_server.client(keys.operator)
    days = sorted(
        {row["usage_date"] for row in client.get("/v1/usage", params={"limit": 1000}).json()["data"]}
    )
    assert len(days) >= 2
    some = client.get("/v1/usage", params={"from": days[1], "to": days[-1], "limit": 1000}).json()["data"]
    assert some and {row["usage_date"] for row in some} <= set(days[1:-1])
    sessions = client.get("/v1/sessions", params={"limit": 1000}).json()["data"]
    middle = sorted(s["started_at"] for s in sessions)[len(sessions) // 2]
    later = client.get("/v1/sessions", params={"from": middle, "limit": 1000}).json()["data"]
    assert 0 < len(later) < len(sessions) and all(s["started_at"] >= middle for s in later)


def test_invoice_etag_and_pdf(api_server, api_fleet, keys) -> None:
    owner = api_fleet.customers[0]
    client = api_server.client(keys.customer[owner])
    invoice_id = api_fleet.invoices[owner][0]
    first = client.get(f"/v1/invoices/{invoice_id}")
    assert (
        first.status_code == 200
        and first.json()["lines"]
        and first.json()["invoice_number"].startswith("INV-")
    )
    etag = first.headers["ETag"]
    again = client.get(f"/v1/invoices/{invoice_id}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get(f"/v1/invoices/{invoice_id}", headers={"If-None-Match": '"stale"'}).status_code == 200
    pdf = client.get(f"/v1/invoices/{invoice_id}/pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert (
        client.get(
            f"/v1/invoices/{invoice_id}/pdf", headers={"If-None-Match": pdf.headers["ETag"]}
        ).status_code
        == 304
    )
    note = client.get(f"/v1/credit-notes/{api_fleet.credit_notes[owner][0]}").json()
    assert note["kind"] == "credit_note" and note["refers_to"] == invoice_id and note["total_usd"] == "-1.00"


def _early_in_a_minute() -> None:
    """Rate windows are calendar minutes: start a count where a few requests cannot cross into the next."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def test_rate_limit_per_key(api_server, keys) -> None:
    limited = api_server.client(keys.limited)
    _early_in_a_minute()
    statuses = [limited.get("/v1/usage", params={"limit": 1}).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    assert api_server.client(keys.customer[next(iter(keys.customer))]).get("/v1/usage").status_code == 200


def test_every_use_is_audited_with_the_key_id(api_server, api_fleet, keys) -> None:
    owner = api_fleet.customers[0]
    token = keys.customer[owner]
    key_id = keys.ids[token]
    time.sleep(0.5)  # rows of earlier tests' requests are written within 0.1 s of their response
    with psycopg.connect(api_fleet.url, autocommit=True) as conn:
        before = conn.execute("select coalesce(max(audit_id), 0) from ops.audit_log").fetchone()[0]
        client = api_server.client(token)
        client.get("/v1/usage", params={"limit": 2})
        client.get("/v1/plans")  # refused: still a use of the key
        api_server.client(keys.revoked).get("/v1/usage")
        for _ in range(50):  # written off the request path, in batches
            rows = conn.execute(
                "select actor, action, entity, after from ops.audit_log where audit_id > %s order by audit_id",
                (before,),
            ).fetchall()
            if len(rows) >= 3:
                break
            time.sleep(0.1)
    mine = [r for r in rows if r[0] == f"api-key:{key_id}"]
    assert [(r[1], r[2], r[3]["status"]) for r in mine] == [
        ("api.request", "GET /v1/usage", 200),
        ("api.request", "GET /v1/plans", 403),
    ]
    assert mine[0][3]["query"] == "limit=2" and mine[0][3]["customer_id"] == owner
    assert any(r[0] == f"api-key:{keys.ids[keys.revoked]}" and r[1] == "api.denied" for r in rows)


def test_rate_limit_is_shared_by_api_processes(api_server, api_fleet, tmp_path) -> None:
    """Two uvicorn processes draw on one key's budget (counted in PostgreSQL): 4 per minute in all."""
    with psycopg.connect(api_fleet.url, autocommit=True) as conn:
        _, token = create_key(
            conn,
            KEY_SECRET.encode(),
            actor="test",
            name="shared",
            customer_id=api_fleet.customers[0],
            rate_per_minute=4,
        )
    with serve(api_fleet, tmp_path / "second.log") as second:
        clients = [api_server.client(token), second.client(token)]
        _early_in_a_minute()
        answers = [clients[i % 2].get("/v1/usage", params={"limit": 1}) for i in range(6)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
