"""``hcp api serve|spec|keys ...`` (the REST API) and ``hcp bench api`` (locust load test)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

api_app = typer.Typer(help="The REST API: serve it, its OpenAPI spec, and API keys.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys: one customer's data, or the operator's, read only.", no_args_is_help=True
)
api_app.add_typer(keys_app, name="keys")


def _actor() -> str:
    from core.audit import current_actor

    return current_actor()


def prepare_api_database(url: str) -> str:
    """Let hcp_api log in and return its URL (HCP_API_DATABASE_URL if set)."""
    from api.config import get_api_settings
    from api.db import api_database_url, enable_login

    settings = get_api_settings()
    if settings.database_url:
        return settings.database_url
    enable_login(url, settings.db_password)
    return api_database_url(url, settings.db_password)


@api_app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default HCP_API_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default HCP_API_PORT, 8000)")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="worker processes (default HCP_API_WORKERS, 1)")
    ] = None,
) -> None:
    """Serve the API with uvicorn, connected as the least-privilege role hcp_api."""
    import uvicorn

    from api.config import get_api_settings
    from orchestration.terminal import console, ready_database

    api_url = prepare_api_database(ready_database())
    os.environ["HCP_API_DATABASE_URL"] = api_url  # the server holds only the hcp_api login
    get_api_settings.cache_clear()
    settings = get_api_settings()
    host, port = host or settings.host, port or settings.port
    console.print(f"API on http://{host}:{port}/v1 (docs at /docs), database role hcp_api")
    workers = workers or settings.workers
    uvicorn.run(
        "api.app:create_app", factory=True, host=host, port=port, log_level="warning", workers=workers
    )


@api_app.command("spec")
def spec(
    check: Annotated[bool, typer.Option("--check", help="exit 1 if api/openapi.json is out of date")] = False,
) -> None:
    """Write the OpenAPI 3.1 spec to api/openapi.json and the SDK's models generated from it (or check
    both)."""
    from api.sdk_models import SDK_MODELS_PATH, sdk_models_text, write_sdk_models
    from api.spec import SPEC_PATH, spec_text, write_spec
    from orchestration.terminal import console, fail

    if check:
        if not SPEC_PATH.exists() or SPEC_PATH.read_text() != spec_text():
            fail(f"{SPEC_PATH} is out of date: run `hcp api spec`")
        if not SDK_MODELS_PATH.exists() or SDK_MODELS_PATH.read_text() != sdk_models_text():
            fail(f"{SDK_MODELS_PATH} is out of date: run `hcp api spec`")
        console.print(f"{SPEC_PATH} and {SDK_MODELS_PATH} are up to date")
        return
    console.print(f"wrote {write_spec()}")
    console.print(f"wrote {write_sdk_models()}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="what the key is for")],
    customer: Annotated[str | None, typer.Option(help="the customer whose data the key reads")] = None,
    operator: Annotated[
        bool, typer.Option("--operator", help="an operator key (every customer, the plan)")
    ] = False,
    scope: Annotated[
        list[str] | None, typer.Option(help="read scope (repeatable; default: all allowed)")
    ] = None,
    rate: Annotated[int, typer.Option(help="requests per minute")] = 600,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Create a key and print it once (only its HMAC is stored)."""
    from api.config import key_secret
    from api.keys import ApiKeyError, create_key
    from core import db
    from orchestration.terminal import emit_json, fail, ready_database

    if bool(customer) == operator:
        fail("pass exactly one of --customer ID or --operator")
    with db.connect(ready_database(), autocommit=True) as conn:
        if (
            customer
            and not conn.execute(
                "select 1 from staging.stg_raw__customers where customer_id = %s limit 1", (customer,)
            ).fetchone()
        ):
            fail(f"customer {customer} does not exist")
        try:
            key_id, token = create_key(
                conn,
                key_secret(),
                name=name,
                customer_id=customer,
                scopes=scope,
                rate_per_minute=rate,
                actor=_actor(),
            )
        except ApiKeyError as err:
            fail(str(err))
    if as_json:
        emit_json({"key_id": key_id, "token": token})
    else:
        typer.echo(f"key {key_id} created; the token is shown once:\n{token}")


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every key: id, owner, scopes, rate, created, revoked (never a secret)."""
    from api.keys import list_keys
    from core import db
    from orchestration.terminal import emit_json, ready_database

    with db.connect(ready_database(), autocommit=True) as conn:
        keys = list_keys(conn)
    if as_json:
        emit_json({"keys": keys})
        return
    for k in keys:
        owner = k["customer_id"] or "operator"
        state = f"revoked {k['revoked_at']:%Y-%m-%d %H:%M}" if k["revoked_at"] else "active"
        typer.echo(
            f"{k['key_id']}  {owner:<14} {','.join(k['read_scopes']):<50} {k['rate_per_minute']:>6}/min  {state}  {k['name']}"
        )


@keys_app.command("rotate")
def keys_rotate(key_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Replace a key: same owner, scopes and rate; the old key stops working now."""
    from api.config import key_secret
    from api.keys import ApiKeyError, rotate_key
    from core import db
    from orchestration.terminal import emit_json, fail, ready_database

    with db.connect(ready_database(), autocommit=True) as conn:
        try:
            new_id, token = rotate_key(conn, key_secret(), key_id, _actor())
        except ApiKeyError as err:
            fail(str(err))
    if as_json:
        emit_json({"key_id": new_id, "token": token, "rotated_from": key_id})
    else:
        typer.echo(f"key {key_id} revoked; new key {new_id}, shown once:\n{token}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key now."""
    from api.keys import ApiKeyError, revoke_key
    from core import db
    from orchestration.terminal import fail, ready_database

    with db.connect(ready_database(), autocommit=True) as conn:
        try:
            revoke_key(conn, key_id, _actor())
        except ApiKeyError as err:
            fail(str(err))
    typer.echo(f"key {key_id} revoked")


def bench_api_command(
    url: Annotated[str | None, typer.Option(help="a database already holding a pipeline-built fleet")] = None,
    devices: Annotated[int, typer.Option(help="fleet size when building one")] = 1000,
    days: Annotated[int, typer.Option(help="days of history when building one")] = 7,
    customers: Annotated[int, typer.Option(help="customers when building one")] = 10,
    users: Annotated[int, typer.Option(help="concurrent locust clients")] = 50,
    seconds: Annotated[int, typer.Option(help="length of the load")] = 60,
    workers: Annotated[
        str, typer.Option(help="API worker processes; several (e.g. 1,2) load the same fleet in turn")
    ] = "1",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Load test: locust clients against the API on a pipeline-built fleet, p50/p95 per endpoint
    beside the same SQL run directly (goal: p95 < 100 ms for every list endpoint, no error)."""
    import contextlib
    import tempfile
    from pathlib import Path

    from benchmarks.api import bench_api
    from orchestration.terminal import console, emit_json, ready_database

    platform = ready_database()
    with contextlib.ExitStack() as stack:
        if url is None:
            from benchmarks.app_fleet import build, platform_at
            from core.db import scratch_database

            url = stack.enter_context(scratch_database(platform, "hcp_bench_api"))
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hcp-bench-api-fleet-")))
            stack.enter_context(
                platform_at(url, home)
            )  # the bench finalizes invoices: the fleet's own PII key
            console.print(f"building a fleet of {devices} devices, {days} days, {customers} customers ...")
            build(url, home, facilities=3, devices=devices, days=days, customers=customers,
                  progress=lambda s: console.print(f"  {s}"))  # fmt: skip
        counts = [int(w) for w in workers.split(",")]
        results = [
            bench_api(url, users=users, seconds=seconds, workers=n, progress=console.print) for n in counts
        ]
    fleet = {"devices": devices, "days": days, "customers": customers}
    for result in results:
        result["fleet"] = fleet
    if as_json:
        emit_json(results[0] if len(results) == 1 else {"runs": results})
        return
    for result in results:
        _print_api_bench(result)
    if len(results) > 1:  # side by side: the worst list endpoint's p95 per worker count
        worst = {
            r["workers"]: max(e["p95_ms"] for e in r["endpoints"].values() if e["list"]) for r in results
        }
        base = worst[counts[0]]
        typer.echo("worst list p95: " + ", ".join(
            f"{n} worker(s) {ms:.0f} ms ({ms / base:.2f}x)" for n, ms in worst.items()))  # fmt: skip


def _print_api_bench(result: dict) -> None:
    from orchestration.terminal import console

    console.print(
        f"{result['users']} clients, {result['seconds']} s, {result['workers']} API worker(s);"
        " p95 goal < 100 ms on list endpoints"
    )
    typer.echo(
        f"{'endpoint':<32} {'requests':>8} {'fail':>4} {'p50 ms':>7} {'p95 ms':>7} {'SQL p50':>8} {'SQL p95':>8}"
    )
    for name, e in sorted(result["endpoints"].items()):
        sql50 = "-" if e["sql_p50_ms"] is None else f"{e['sql_p50_ms']:.2f}"
        sql95 = "-" if e["sql_p95_ms"] is None else f"{e['sql_p95_ms']:.2f}"
        typer.echo(
            f"{name:<32} {e['requests']:>8} {e['failures']:>4} {e['p50_ms']:>7.0f} {e['p95_ms']:>7.0f} {sql50:>8} {sql95:>8}"
        )
    typer.echo(f"goal met: {result['goal_met']}")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.add_typer(api_app, name="api")
    bench_app.command("api")(bench_api_command)
