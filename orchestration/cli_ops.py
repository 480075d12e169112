"""``hcp status`` (health, for probes) and ``hcp soak`` (the platform left alone while files arrive)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def ensure_demo_key() -> None:
    """For the demo only: create the PII key when there is none, and say so."""
    from core.pii import create_key, key_path
    from core.settings import get_settings
    from orchestration.terminal import console

    if get_settings().pii_key or key_path().exists():
        return
    key = create_key()
    console.print(f"created PII key {key.key_id} at {key_path()}: keep a copy apart from the backups")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``status``, ``soak`` and ``keys create`` to the ``hcp`` CLI."""
    keys_app = typer.Typer(help="The customer-PII encryption key.", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def keys_create() -> None:
        """Create the PII key of a new platform ($HCP_HOME/secrets/pii.key); never overwrites one."""
        from core.pii import create_key, key_path
        from orchestration.terminal import console, fail

        try:
            key = create_key()
        except FileExistsError:
            fail(f"{key_path()} exists: a new key would make the encrypted PII unreadable")
        console.print(f"created PII key {key.key_id} at {key_path()}: store a copy in your secret store")

    db_app = next(group.typer_instance for group in app.registered_groups if group.name == "db")

    @db_app.command("backup")
    def db_backup(
        to: Annotated[Path | None, typer.Option(help="folder (default: $HCP_HOME/backups)")] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """pg_dump the platform and Dagster databases into one tar; the PII key is sealed with
        HCP_BACKUP_PASSPHRASE, or left out without one (keep it in your secret store)."""
        from core.backup import BackupError, backup
        from core.settings import get_settings
        from orchestration.backups import current_key
        from orchestration.terminal import console, emit_json, fail, ready_database

        settings = get_settings()
        try:
            manifest = backup(
                ready_database(), to or settings.backups, settings.backup_passphrase, current_key()
            )
        except BackupError as err:
            fail(str(err))
        if as_json:
            emit_json(manifest)
        else:
            console.print(f"backup {manifest['path']}: {manifest['bytes']} bytes in {manifest['seconds']} s")
            console.print(f"PII key: {manifest['pii_key']}")

    @db_app.command("prune")
    def db_prune(
        keep_days: Annotated[int, typer.Option("--keep-days", min=1, help="keep this many days of raw")],
        dry_run: Annotated[bool, typer.Option("--dry-run", help="list, drop nothing")] = False,
        as_json: JsonFlag = False,
    ) -> None:
        """Drop raw telemetry day partitions older than --keep-days once the hourly mart holds them;
        refuses (dropping nothing) while it does not."""
        from ingestion.retention import PruneRefused, prune
        from orchestration.terminal import console, emit_json, fail, ready_database

        try:
            result = prune(ready_database(), keep_days, dry_run=dry_run)
        except PruneRefused as refused:
            fail(str(refused))
        if as_json:
            emit_json(result.to_dict())
            return
        verb = "would drop" if dry_run else "dropped"
        for table, names in result.dropped.items():
            console.print(
                f"raw.{table}: {verb} {len(names)} partitions before {result.cutoff}: {', '.join(names) or '-'}"
            )

    @db_app.command("restore")
    def db_restore(
        archive: Annotated[Path, typer.Argument(help="an hcp-backup-*.tar", exists=True, dir_okay=False)],
        as_json: JsonFlag = False,
    ) -> None:
        """Restore a backup onto an empty server (the PII key too, given HCP_BACKUP_PASSPHRASE)."""
        from core import db
        from core.backup import BackupError, restore
        from core.migrate import prepare
        from core.pii import key_path
        from core.settings import get_settings
        from orchestration.terminal import console, emit_json, fail

        settings = get_settings()
        try:
            url = db.database_url()
            done = restore(url, archive, settings.backup_passphrase, None if settings.pii_key else key_path())
            prepare(url)  # roles and grants (dumps carry none), and any newer migrations
        except (BackupError, FileExistsError) as err:
            fail(str(err))
        if as_json:
            emit_json(done)
        else:
            console.print(f"restored {', '.join(done['restored'])} in {done['seconds']} s")
            console.print(
                f"PII key: {done['pii_key_written'] or 'not restored: provide HCP_PII_KEY or the key file'}"
            )

    @app.command()
    def status(as_json: JsonFlag = False) -> None:
        """Health of the served platform; exits 1 when unhealthy (for a monitoring probe)."""
        from core import db
        from orchestration.health import platform_status
        from orchestration.instance import ensure_dagster_home
        from orchestration.terminal import console, emit_json

        try:
            url = db.database_url()
            ensure_dagster_home(url)
        except Exception as err:  # noqa: BLE001 - a down server is a status, not a crash
            url = db.get_settings().database_url or ""
            console.print(f"[red]{err}[/]")
        report = platform_status(url)
        if as_json:
            emit_json(report)
        else:
            mark = "[green]healthy[/]" if report["healthy"] else "[red]UNHEALTHY[/]"
            console.print(f"platform: {mark}")
            for problem in report["problems"]:
                console.print(f"  - {problem}")
            for kind, source in report.get("sources", {}).items():
                console.print(f"  {kind}: last load {source['last_load']} (lag {source['lag_seconds']} s)")
            console.print(f"  daemon: {report.get('daemon')}")
        raise typer.Exit(0 if report["healthy"] else 1)

    @bench_app.command("launch")
    def bench_launch(
        repeat: Annotated[int, typer.Option(min=1)] = 3,
        as_json: JsonFlag = False,
    ) -> None:
        """CPU a run spends before its first step (a fresh process loading the code location) vs
        importing dagster alone."""
        from benchmarks.launch import format_table, run_benchmark
        from orchestration.terminal import console, emit_json

        result = run_benchmark(repeat, progress=lambda text: console.print(f"[cyan]>[/] {text}"))
        if as_json:
            emit_json(result)
        else:
            typer.echo(format_table(result))

    @app.command()
    def soak(
        hours: Annotated[float, typer.Option(help="simulated hours of landing files")] = 6,
        speed: Annotated[float, typer.Option(help="simulated seconds per wall-clock second")] = 360,
        devices: Annotated[int, typer.Option(min=1)] = 4,
        timeout: Annotated[float, typer.Option(help="seconds to wait for the daemon to settle")] = 1800,
        as_json: JsonFlag = False,
    ) -> None:
        """Serve the platform (code server + daemon) on a scratch database, drip simulated landing
        files into it, let the daemon do everything, then check and print the figures; exit 1 on a failed check."""
        from orchestration.soak import run_soak
        from orchestration.terminal import console, emit_json, ready_database

        url = ready_database()
        report = run_soak(url, hours=hours, speed=speed, devices=devices, timeout=timeout, say=console.print)
        if as_json:
            emit_json(report)
        else:
            for name, passed in report["checks"].items():
                console.print(f"{'[green]ok[/]' if passed else '[red]FAILED[/]'} {name}")
            console.print(f"lag file -> mart: {report['lag_file_to_mart_seconds']}")
            console.print(
                f"runs: {report['runs']}, files: {report['files']}, wall: {report['wall_seconds']} s"
            )
        raise typer.Exit(0 if report["ok"] else 1)
