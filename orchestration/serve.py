"""Serve the platform the way a deployment runs it, as separate processes:

- the code location as a gRPC code server (``dagster api grpc``), the only process that imports
  our definitions;
- the Dagster webserver and the Dagster daemon (schedules, sensors, declarative automation, the
  run queue), both pointed at the code server through ``$DAGSTER_HOME/workspace.yaml``;
- the Streamlit app.

Dagster's runs, events and schedule state go to PostgreSQL (see ``orchestration.instance``); each
process writes its log to ``$HCP_HOME/logs/<name>.log``. ``--dev`` runs ``dagster dev`` instead.
Ctrl-C (or SIGTERM) stops the children and then the embedded PostgreSQL server, so nothing is left
running. With DATABASE_URL set, the external server is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from core import db
from core.settings import PROJECT_ROOT, get_settings
from orchestration.instance import ensure_dagster_home, grpc_workspace

STREAMLIT_APP = PROJECT_ROOT / "apps" / "streamlit" / "streamlit_app.py"
LOCATION = "hcp"
BIN = Path(sys.executable).parent


@dataclass
class Server:
    name: str
    argv: list[str]
    address: str
    log: str  # file name under $HCP_HOME/logs ("" = the console)


def _child_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = url
    env["DO_NOT_TRACK"] = "1"
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    # Dagster's 60 s gRPC deadline fails run launches on a busy machine (the code server starts
    # each run's process): a slow launch is better than a failed run.
    env.setdefault("DAGSTER_GRPC_TIMEOUT_SECONDS", "300")
    env.setdefault("DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS", "300")
    env.setdefault("DAGSTER_SCHEDULE_GRPC_TIMEOUT_SECONDS", "300")
    return env


def code_server() -> Server:
    port = get_settings().grpc_port
    argv = [str(BIN / "dagster"), "api", "grpc", "-m", "orchestration.definitions",
            "-h", "127.0.0.1", "-p", str(port), "--location-name", LOCATION]  # fmt: skip
    return Server("code server", argv, f"grpc://127.0.0.1:{port}", "code_server.log")


def daemon(workspace: Path) -> Server:
    return Server(
        "Dagster daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], "", "daemon.log"
    )


def webserver(workspace: Path) -> Server:
    port = get_settings().dagster_port
    argv = [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)]
    return Server("Dagster UI", argv, f"http://127.0.0.1:{port}", "webserver.log")


def dev_server() -> Server:
    port = get_settings().dagster_port
    argv = [str(BIN / "dagster"), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
            "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    return Server("Dagster UI (dagster dev)", argv, f"http://127.0.0.1:{port}", "")


def streamlit() -> Server:
    port = get_settings().streamlit_port
    argv = [str(BIN / "streamlit"), "run", str(STREAMLIT_APP), "--server.headless", "true",
            "--server.address", "127.0.0.1", "--server.port", str(port),
            "--browser.gatherUsageStats", "false"]  # fmt: skip
    return Server("Streamlit app", argv, f"http://127.0.0.1:{port}", "streamlit.log")


def wait_for_code_server(port: int, child: subprocess.Popen, timeout: float = 600) -> None:
    """Block until the code server answers a ping (loading the definitions takes a while)."""
    from dagster._grpc.client import DagsterGrpcClient

    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            client.ping("")
            return
        if child.poll() is not None:
            raise RuntimeError(f"the code server exited with {child.returncode}: see its log")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the code server did not answer within {timeout:.0f} s")
        time.sleep(1)


@dataclass
class Platform:
    """The running processes of a served platform."""

    children: list[tuple[Server, subprocess.Popen]]
    logs: Path

    def alive(self) -> bool:
        return all(child.poll() is None for _, child in self.children)


@contextlib.contextmanager
def running(
    url: str, *, with_webserver: bool = True, with_streamlit: bool = False, dev: bool = False,
    console: Console | None = None,
) -> Iterator[Platform]:  # fmt: skip
    """Start the platform's processes on ``url``; stop them all (process groups) on exit.
    Without the PII key it stops before starting anything (MissingKeyError says what to do)."""
    from core.pii import load_key

    load_key()
    home = ensure_dagster_home(url)
    logs = get_settings().home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = _child_env(url)
    platform = Platform([], logs)

    def start(server: Server) -> subprocess.Popen:
        out = (logs / server.log).open("a") if server.log else None
        child = subprocess.Popen(
            server.argv, cwd=PROJECT_ROOT, env=env, start_new_session=True,
            stdout=out, stderr=subprocess.STDOUT if out else None,
        )  # fmt: skip
        platform.children.append((server, child))
        if console:
            where = f" (log: {logs / server.log})" if server.log else ""
            console.print(f"[bold green]{server.name}[/]: {server.address or 'running'}{where}")
        return child

    try:
        if dev:
            start(dev_server())
        else:
            grpc = start(code_server())
            wait_for_code_server(get_settings().grpc_port, grpc)
            workspace = grpc_workspace(home, get_settings().grpc_port, LOCATION)
            start(daemon(workspace))
            if with_webserver:
                start(webserver(workspace))
        if with_streamlit and STREAMLIT_APP.exists():
            start(streamlit())
        yield platform
    finally:
        stop(platform)


def stop(platform: Platform, grace: float = 30) -> None:
    """SIGINT each process group (the daemon and webserver stop their own children), then SIGKILL."""
    for _, child in reversed(platform.children):
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    for _, child in platform.children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)


def serve_forever(url: str, with_streamlit: bool, console: Console, dev: bool = False) -> None:
    """Start the servers, print their addresses, and block until Ctrl-C; then stop everything."""
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # Explicit handlers: a process started in the background inherits SIGINT ignored, and Ctrl-C
    # must still stop everything.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    from core.pii import MissingKeyError

    try:
        with running(url, with_streamlit=with_streamlit, dev=dev, console=console) as platform:
            console.print("Ctrl-C stops the servers and the embedded database.")
            while not stopping and platform.alive():
                time.sleep(0.5)
            for server, child in platform.children:
                if child.poll() is not None and not stopping:
                    console.print(f"[red]{server.name} exited with {child.returncode}[/]")
    except KeyboardInterrupt:
        pass
    except MissingKeyError as err:
        console.print(f"[red]{err}[/]")
        raise SystemExit(2) from None
    finally:
        if not get_settings().database_url:
            db.stop_embedded()
            console.print("embedded PostgreSQL stopped")
