"""Serve the Dagster UI (webserver + daemon, through ``dagster dev``) and the Streamlit app.

Ctrl-C (or SIGTERM) stops the children and then the embedded PostgreSQL server, so nothing is left
running. With DATABASE_URL set, the external server is left alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from core import db
from core.settings import PROJECT_ROOT, get_settings
from orchestration.instance import ensure_dagster_home

STREAMLIT_APP = PROJECT_ROOT / "apps" / "streamlit" / "streamlit_app.py"


def _child_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = url
    env["DO_NOT_TRACK"] = "1"
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    return env


def commands(url: str, with_streamlit: bool) -> list[tuple[str, list[str], str]]:
    """(name, argv, address) of each server to start."""
    settings = get_settings()
    bin_dir = Path(sys.executable).parent
    servers = [
        (
            "Dagster UI",
            [
                str(bin_dir / "dagster"),
                "dev",
                "-w",
                str(PROJECT_ROOT / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(settings.dagster_port),
            ],
            f"http://127.0.0.1:{settings.dagster_port}",
        )
    ]
    if with_streamlit and STREAMLIT_APP.exists():
        servers.append(
            (
                "Streamlit app",
                [
                    str(bin_dir / "streamlit"),
                    "run",
                    str(STREAMLIT_APP),
                    "--server.headless",
                    "true",
                    "--server.address",
                    "127.0.0.1",
                    "--server.port",
                    str(settings.streamlit_port),
                    "--browser.gatherUsageStats",
                    "false",
                ],
                f"http://127.0.0.1:{settings.streamlit_port}",
            )
        )
    return servers


def serve_forever(url: str, with_streamlit: bool, console: Console) -> None:
    """Start the servers, print their addresses, and block until Ctrl-C; then stop everything."""
    ensure_dagster_home()
    env = _child_env(url)
    children: list[subprocess.Popen] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # Explicit handlers: a process started in the background inherits SIGINT ignored, and Ctrl-C
    # must still stop everything.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for name, argv, address in commands(url, with_streamlit):
            children.append(subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, start_new_session=True))
            console.print(f"[bold green]{name}[/]: {address}")
        console.print("Ctrl-C stops the servers and the embedded database.")
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        if not get_settings().database_url:
            db.stop_embedded()
            console.print("embedded PostgreSQL stopped")
