"""``hcp fleet ...``: poll the machines, pull live prices, apply the plan; ``hcp bench fleet``."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")]
InventoryOption = Annotated[
    Path | None, typer.Option("--inventory", help="inventory TOML (default: HCP_FLEET_INVENTORY)")
]


def _inventory(path: Path | None):
    from ingestion.live.inventory import FleetSettings, InventoryError, load_inventory
    from orchestration.terminal import fail

    settings = FleetSettings()
    path = path or settings.inventory
    if path is None:
        fail("no inventory: pass --inventory or set HCP_FLEET_INVENTORY (see docs/fleet.md)")
    try:
        return load_inventory(path), settings
    except InventoryError as err:
        fail(str(err))


def _exit_when_done(command: Callable[..., None]) -> Callable[..., None]:
    """End the process as soon as ``command`` is done, without the interpreter's finalization.

    asic-rs (``pyasic_rs``) runs a Tokio runtime that is never shut down: a worker thread still
    finishing a miner call while Python finalizes panics and aborts the process (SIGABRT, exit -6)
    after the command's whole output was printed (seen once in about ten CI runs; the same race as
    PyO3/pyo3-async-runtimes#40, fixed in lancedb by shutting its runtime down at exit, lancedb#4175).
    Nothing of ours runs at exit: the output is flushed, the database connections are closed."""

    @functools.wraps(command)
    def run(*args, **kwargs) -> None:
        command(*args, **kwargs)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    return run


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the ``fleet`` command group and the fleet benchmark to the ``hcp`` CLI."""
    fleet_app = typer.Typer(
        help="Live fleet: poll miners (asic-rs) and GPU nodes (DCGM), live prices, apply the plan safely.",
        no_args_is_help=True,
    )
    app.add_typer(fleet_app, name="fleet")

    @fleet_app.command("poll")
    @_exit_when_done
    def poll(
        inventory: InventoryOption = None,
        every: Annotated[float, typer.Option(help="seconds between polls; 0 polls once")] = 0.0,
        count: Annotated[int, typer.Option(help="polls to run with --every (0: until stopped)")] = 0,
        as_json: JsonFlag = False,
    ) -> None:
        """Poll every machine of the inventory, load the readings, compare them with the commands sent."""
        from core.settings import get_settings
        from ingestion.live.controller import check_commands
        from ingestion.live.fleet import poll_fleet
        from ingestion.live.miners import MinerPool
        from orchestration.terminal import console, emit_json, ready_database

        inv, settings = _inventory(inventory)
        url = ready_database()
        pool = MinerPool(settings.timeout_s, inv.logins)  # miners are identified once per process
        done = 0
        while True:
            result = poll_fleet(url, inv, settings, get_settings().landing, pool)
            alerts = check_commands(url)
            payload = {**result.to_dict(), "alerts_raised": alerts}
            if as_json:
                emit_json(payload)
            else:
                console.print(
                    f"polled {result.miners} miners ({result.miners_reachable} reachable) and "
                    f"{result.gpu_nodes} GPU nodes ({result.gpu_nodes_reachable} reachable) in "
                    f"{result.poll_seconds:.2f} s; loaded {sum(x.loaded for x in result.loads)} rows, "
                    f"quarantined {sum(x.quarantined for x in result.loads)}; {alerts} alerts"
                )
            done += 1
            if every <= 0 or (count and done >= count):
                return
            time.sleep(max(0.0, every - result.seconds))

    @fleet_app.command("apply")
    @_exit_when_done
    def apply(
        execute: Annotated[
            bool,
            typer.Option("--execute/--dry-run", help="send the commands (default: dry run, record only)"),
        ] = False,
        inventory: InventoryOption = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Turn the latest plan into commands through the safety rules; dry run unless --execute."""
        from ingestion.live.controller import apply_plan
        from orchestration.terminal import console, emit_json, ready_database

        inv, settings = _inventory(inventory)
        url = ready_database()
        result = apply_plan(url, inv, settings, execute=execute)
        if as_json:
            emit_json(result.to_dict())
            return
        console.print(
            f"{result.mode}: plan {result.plan_id or '-'} interval {result.interval_start or '-'}: "
            f"{result.decided} commands, {result.skipped} held back, {result.applied} applied, {result.failed} failed"
        )
        for c in result.commands:
            console.print(f"  {c['device_id']}: {c['action']} ({c['rule']}: {c['reason']})")

    @fleet_app.command("prices")
    def prices(
        day: Annotated[
            list[str] | None, typer.Option(help="day(s), ISO (default: today and tomorrow)")
        ] = None,
        inventory: InventoryOption = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Load real-time and day-ahead prices of the inventory's markets (needs HCP_FLEET_NETWORK=true)."""
        from datetime import UTC, datetime, timedelta

        from core.settings import get_settings
        from ingestion.live.markets import PricesOff, load_market_prices
        from orchestration.terminal import emit_json, fail, ready_database

        inv, settings = _inventory(inventory)
        today = datetime.now(UTC).date()
        days = day or [today.isoformat(), (today + timedelta(days=1)).isoformat()]
        try:
            loads = load_market_prices(
                ready_database(), inv.markets, days, get_settings().landing, network=settings.network
            )
        except PricesOff as err:
            fail(str(err))
        if as_json:
            emit_json({"loads": [x.to_dict() for x in loads]})
        else:
            for x in loads:
                typer.echo(f"{x.iso} {x.kind} {x.day}: {x.rows} rows, {x.load.loaded if x.load else 0} new")

    @bench_app.command("fleet")
    def bench_fleet(
        miners: Annotated[int, typer.Option(help="fake miners to poll")] = 50,
        concurrency: Annotated[int, typer.Option(help="the poll's concurrency bound")] = 32,
        latency_ms: Annotated[
            float, typer.Option(help="each fake request's latency (network + miner)")
        ] = 50.0,
        as_json: JsonFlag = False,
    ) -> None:
        """Miners polled per second with the concurrency bound vs one at a time, on fake miners
        (needs the source checkout: the fakes live in tests/fleet)."""
        from benchmarks.fleet import format_table, run_benchmark
        from orchestration.terminal import emit_json

        result = run_benchmark(miners, concurrency, latency_ms / 1000)
        if as_json:
            emit_json(result)
        else:
            typer.echo(format_table(result))
