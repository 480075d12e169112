"""``hcp docs``: the dbt documentation site of the marts (lineage, columns, tests), built and served."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from core.dbt import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_env, run_dbt
from core.settings import get_settings
from orchestration.terminal import console, ready_database


def docs(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="serve the site after building it")
    ] = True,
    port: Annotated[int, typer.Option(help="port of the docs server (127.0.0.1 only)")] = 8580,
    out: Annotated[Path | None, typer.Option(help="site folder (default: $HCP_HOME/dbt_docs)")] = None,
) -> None:
    """Build the dbt docs (catalog read from the platform database) and serve them on 127.0.0.1."""
    url = ready_database()
    target = out or get_settings().home / "dbt_docs"
    target.mkdir(parents=True, exist_ok=True)
    console.print(f"[cyan]>[/] dbt docs generate -> {target}")
    run_dbt(url, "docs", "generate", target_path=target)
    console.print(f"docs built: {target / 'index.html'}")
    if not serve:
        return
    console.print(f"[bold green]dbt docs[/]: http://127.0.0.1:{port}  (Ctrl-C stops)")
    argv = [
        str(DBT_EXECUTABLE),
        "docs",
        "serve",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
    ]
    with contextlib.suppress(KeyboardInterrupt):
        subprocess.run(argv, env=dbt_env(url), cwd=DBT_PROJECT_DIR, check=False)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``hcp docs`` to the CLI."""
    app.command("docs")(docs)
