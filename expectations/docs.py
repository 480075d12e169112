"""Suites as JSON in the repository's GE context, and Data Docs built from a validation of real data.

Data Docs are built in a scratch copy of ``expectations/gx`` (GE records data sources, validation
definitions and checkpoints in its config when they are added), then the rendered site is copied
to the output folder, so building docs never edits files under version control.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from expectations.context import GX_ROOT, SUITES_DIR, ephemeral_context, gx_module
from expectations.runner import SAMPLE_ROWS, _query
from expectations.suites import CHECKS, MART_CHECKS, all_frames, build_suite


def _strip_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_strip_ids(v) for v in value]
    return value


def suite_json(name: str) -> dict[str, Any]:
    """The suite ``name`` as GE's JSON (without GE's random ids, so exports are reproducible)."""
    ephemeral_context()  # suites serialize through an active context
    frame = next(f for f in all_frames() if f.suite == name)
    return _strip_ids(build_suite(frame).to_json_dict())


def export_suites(target: Path = SUITES_DIR) -> list[Path]:
    """Write every suite to ``target/<suite>.json`` (the file context's expectations store)."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for frame in all_frames():
        path = target / f"{frame.suite}.json"
        path.write_text(json.dumps(suite_json(frame.suite), indent=2, sort_keys=True, default=str) + "\n")
        written.append(path)
    return written


def latest_day(url: str) -> str | None:
    """The newest UTC day with telemetry (else prices): what the docs validate by default."""
    with psycopg.connect(url) as conn:
        conn.execute("set timezone = 'UTC'")
        row = conn.execute(
            """select coalesce((select max(ts)::date from raw.device_telemetry),
                               (select max(interval_start_local)::date from raw.energy_prices))"""
        ).fetchone()
    return row[0].isoformat() if row and row[0] else None


def build_docs(url: str, out_dir: Path, day: str | None = None) -> dict[str, Any]:
    """Validate every suite on ``day`` (default: the latest day with data) and render Data Docs into ``out_dir``.

    Returns the index page, the day, and per suite whether it passed (or why it was skipped).
    """
    gx = gx_module()
    from great_expectations.checkpoint import UpdateDataDocsAction

    day = day or latest_day(url)
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "gx"
        shutil.copytree(GX_ROOT / "gx", root, ignore=shutil.ignore_patterns("uncommitted", "expectations"))
        export_suites(root / "expectations")
        context = gx.get_context(mode="file", project_root_dir=tmp)
        source = context.data_sources.add_pandas("platform")
        for spec in CHECKS + MART_CHECKS:
            for frame in spec.frames:
                if frame.daily and day is None:
                    summary[frame.suite] = "skipped: no data"
                    continue
                try:
                    df = _query(url, frame, day)
                except psycopg.errors.UndefinedTable:
                    summary[frame.suite] = "skipped: table absent"
                    continue
                if df.empty:
                    summary[frame.suite] = "skipped: no rows"
                    continue
                suite = context.suites.add_or_update(build_suite(frame, columns=list(df.columns)))
                batch = source.add_dataframe_asset(frame.suite).add_batch_definition_whole_dataframe("whole")
                definition = context.validation_definitions.add(
                    gx.ValidationDefinition(name=frame.suite, data=batch, suite=suite)
                )
                checkpoint = context.checkpoints.add(
                    gx.Checkpoint(
                        name=f"docs_{frame.suite}",
                        validation_definitions=[definition],
                        actions=[UpdateDataDocsAction(name="data_docs")],
                        result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS},
                    )
                )
                result = checkpoint.run(batch_parameters={"dataframe": df})
                summary[frame.suite] = "passed" if result.success else "failed"
        context.build_data_docs()
        site = root / "uncommitted" / "data_docs" / "local_site"
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(site, out_dir)
    return {"index": str(out_dir / "index.html"), "day": day, "suites": summary}
