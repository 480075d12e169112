"""What every ``hcp`` command shares: the error console, JSON output, and a ready database."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from core import db

console = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")]


def fail(message: str, code: int = 1) -> None:
    """Print a one-line error (no traceback) and exit."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def emit_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload, default=str, indent=None) + "\n")


def ready_database() -> str:
    """The database URL (the admin path), with the server started, migrations applied and the
    platform's database roles able to log in."""
    from core.migrate import prepare
    from core.roles import ensure_roles

    try:
        url = db.database_url()
        prepare(url)
        ensure_roles(url)  # the components' logins and their passwords (0600 file under HCP_HOME)
    except db.DatabaseError as err:
        fail(str(err))
    return url
