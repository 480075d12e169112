"""``hcp quality ...`` (run suites, Data Docs, suites JSON, alerts) and ``hcp bench quality``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")]


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the ``quality`` command group and the quality benchmark to the ``hcp`` CLI."""
    quality_app = typer.Typer(
        help="Data quality: Great Expectations suites (also run as Dagster asset checks), Data Docs, alerts.",
        no_args_is_help=True,
    )
    app.add_typer(quality_app, name="quality")

    @quality_app.command("run")
    def run(
        day: Annotated[
            str | None, typer.Option(help="partition day, ISO (default: latest day with data)")
        ] = None,
        check: Annotated[list[str] | None, typer.Option(help="check name(s); default: all")] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Run the suites outside Dagster, record them in ops.check_results; exit 1 when one fails."""
        import psycopg

        from expectations.docs import latest_day
        from expectations.runner import record_outcome, run_check
        from expectations.suites import CHECKS, MART_CHECKS
        from orchestration.terminal import console, emit_json, fail, ready_database

        url = ready_database()
        day = day or latest_day(url)
        specs = [s for s in CHECKS + MART_CHECKS if not check or s.name in check]
        if not specs:
            fail(f"no check named {check}; known: {', '.join(s.name for s in CHECKS + MART_CHECKS)}")
        results = []
        for spec in specs:
            if spec.daily and day is None:
                results.append({"check": spec.name, "status": "skipped: no data"})
                continue
            try:
                outcome = run_check(url, spec, day if spec.daily else None)
            except psycopg.errors.UndefinedTable as err:
                results.append({"check": spec.name, "status": f"skipped: {err.diag.message_primary}"})
                continue
            record_outcome(url, outcome, "ERROR" if spec.blocking else "WARN")
            results.append(
                {
                    "check": spec.name,
                    "status": "passed" if outcome.passed else "FAILED",
                    "partition": outcome.partition,
                    "rows": outcome.rows_checked,
                    "unexpected": outcome.unexpected_count,
                    "failing": [f"{f['expectation']} {f['kwargs']}" for f in outcome.failing],
                    "seconds": round(outcome.seconds, 2),
                }
            )
        failed = [r for r in results if r["status"] == "FAILED"]
        if as_json:
            emit_json({"day": day, "checks": results, "failed": len(failed)})
        else:
            for r in results:
                console.print(
                    f"{r['status']:>8}  {r['check']}  {r.get('partition') or ''}  rows={r.get('rows', '')}"
                )
                for line in r.get("failing", []):
                    console.print(f"          {line}")
        if failed:
            raise typer.Exit(1)

    @quality_app.command("docs")
    def docs(
        out: Annotated[Path | None, typer.Option(help="output folder (default: $HCP_HOME/data_docs)")] = None,
        day: Annotated[
            str | None, typer.Option(help="day to validate, ISO (default: latest with data)")
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Validate every suite on a day of data and render Great Expectations Data Docs (HTML)."""
        from core.settings import get_settings
        from expectations.docs import build_docs
        from orchestration.terminal import console, emit_json, ready_database

        url = ready_database()
        target = out or get_settings().home / "data_docs"
        result = build_docs(url, target, day)
        if as_json:
            emit_json(result)
            return
        for suite, status in result["suites"].items():
            console.print(f"  {suite}: {status}")
        typer.echo(f"Data Docs for {result['day']}: {result['index']}")

    @quality_app.command("suites")
    def suites() -> None:
        """Write the suites (defined in expectations/suites.py) as JSON into expectations/gx/expectations."""
        from expectations.docs import export_suites

        for path in export_suites():
            typer.echo(str(path))

    @quality_app.command("alerts")
    def alerts(
        limit: Annotated[int, typer.Option(min=1)] = 20,
        as_json: JsonFlag = False,
    ) -> None:
        """The latest alerts (failed runs and checks) with their hook outcome."""
        from core import db
        from orchestration.terminal import console, emit_json, ready_database

        with db.connect(ready_database()) as conn:
            rows = conn.execute(
                """select alert_id, raised_at, source, severity, title, hook, hook_status
                   from ops.alerts order by alert_id desc limit %s""",
                (limit,),
            ).fetchall()
        keys = ("alert_id", "raised_at", "source", "severity", "title", "hook", "hook_status")
        if as_json:
            emit_json({"alerts": [dict(zip(keys, row, strict=True)) for row in rows]})
            return
        for row in rows:
            console.print(
                f"#{row[0]} {row[1]:%Y-%m-%d %H:%M} {row[3]:<5} {row[4]}  hook={row[5] or '-'} {row[6] or ''}"
            )

    @bench_app.command("quality")
    def bench_quality(
        devices: Annotated[str, typer.Option(help="fleet sizes, comma separated")] = "1000,10000",
        as_json: JsonFlag = False,
    ) -> None:
        """Telemetry suite on one day of data vs ingesting that day (goal: check / ingest <= 1)."""
        from benchmarks.expectations import format_table, run_benchmark
        from orchestration.terminal import console, emit_json, ready_database

        url = ready_database()
        fleets = tuple(int(n) for n in devices.split(","))
        result = run_benchmark(url, fleets, progress=lambda text: console.print(f"[cyan]>[/] {text}"))
        if as_json:
            emit_json(result)
        else:
            typer.echo(format_table(result))
