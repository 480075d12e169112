"""``hcp users ...`` (the Streamlit app's accounts) and ``hcp bench app`` (page render times)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.roles import APP_ROLES
from core.settings import PROJECT_ROOT

APP_DIR = PROJECT_ROOT / "apps" / "streamlit"
ROLES = APP_ROLES

users_app = typer.Typer(
    help="Users of the Streamlit app: roles and bcrypt-hashed passwords.", no_args_is_help=True
)


def _auth(url: str):
    """The app's auth module, bound to the database at ``url``."""
    import os

    os.environ["DATABASE_URL"] = url
    from apps.streamlit.lib import auth

    return auth


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="user name (or the e-mail used for single sign-on)")],
    role: Annotated[str, typer.Option(help=f"one of: {', '.join(ROLES)}")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    sso_only: Annotated[bool, typer.Option("--sso-only", help="no password: single sign-on only")] = False,
) -> None:
    """Create a user (or change an existing user's role and password)."""
    from orchestration.terminal import console, fail, ready_database

    if role not in ROLES:
        fail(f"--role {role!r}: one of {', '.join(ROLES)}")
    password = None if sso_only else _read_password(password_stdin)
    auth = _auth(ready_database())
    try:
        auth.add_user(name, role, password, actor="cli")
    except ValueError as err:
        fail(str(err))
    console.print(f"user {name} saved with role {role}")


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List users with role, status and last login."""
    from orchestration.terminal import emit_json, ready_database

    rows = _auth(ready_database()).list_users()
    if as_json:
        emit_json({"users": rows})
        return
    for row in rows:
        status = "active" if row["is_active"] else "disabled"
        typer.echo(
            f"{row['username']:<32} {row['role']:<9} {status:<9} last login {row['last_login_at'] or '-'}"
        )


@users_app.command("mfa")
def users_mfa(name: str) -> None:
    """Enroll (or re-enroll) a TOTP second factor; prints the key and otpauth:// URI once."""
    from orchestration.terminal import console, fail, ready_database

    auth = _auth(ready_database())
    try:
        secret = auth.enroll_totp(name, actor="cli")
    except ValueError as err:
        fail(str(err))
    console.print(f"authenticator key for {name}: [bold]{secret}[/]")
    typer.echo(auth.totp_uri(name, secret))


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a user and revoke their sessions."""
    from orchestration.terminal import console, fail, ready_database

    if not _auth(ready_database()).set_active(name, False, actor="cli"):
        fail(f"no user {name!r}")
    console.print(f"user {name} disabled")


@users_app.command("enable")
def users_enable(name: str) -> None:
    """Enable a disabled user."""
    from orchestration.terminal import console, fail, ready_database

    if not _auth(ready_database()).set_active(name, True, actor="cli"):
        fail(f"no user {name!r}")
    console.print(f"user {name} enabled")


def bench_app_command(
    devices: Annotated[int, typer.Option(min=10, help="devices in the synthetic fleet")] = 1000,
    days: Annotated[
        str, typer.Option(help="synthetic history lengths to measure, comma separated (empty: none)")
    ] = "7,28",
    platform: Annotated[
        bool,
        typer.Option("--platform", help="also measure the platform's own database (e.g. after hcp demo)"),
    ] = False,
    screenshots: Annotated[
        Path | None, typer.Option(help="with --platform: save page screenshots there (docs/screenshots)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")] = False,
) -> None:
    """First-render time of executive, operations and resources in headless Chromium (vs their SQL alone),
    and the what-if re-solve time (vs building the problem), on a synthetic fleet in a scratch database."""
    from benchmarks.app import format_table, run_benchmark
    from orchestration.terminal import console, emit_json, ready_database

    result = run_benchmark(
        ready_database(),
        devices=devices,
        days=[int(d) for d in days.split(",") if d.strip()],
        progress=lambda text: console.print(f"[cyan]>[/] {text}"),
        platform=platform,
        shots=screenshots if platform else None,
    )
    if as_json:
        emit_json(result)
    else:
        typer.echo(format_table(result))


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``hcp users`` and ``hcp bench app`` to the CLI."""
    app.add_typer(users_app, name="users")
    bench_app.command("app")(bench_app_command)
