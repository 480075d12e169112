"""The ``hcp billing`` commands and the monthly Dagster assets on a small hand-made month."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import pytest
from typer.testing import CliRunner

from assets.resources import PostgresResource
from orchestration.cli import app
from tests.billing import factories as f

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731


def _month(conn) -> None:
    f.customer(conn, "c1", tax="0.07")
    f.customer(conn, "c2", tz="America/New_York")
    devices = f.gpus(conn, "h100", f.H100, 2)
    f.card(conn, "rc-1", None, f.H100, "inference", "2.49", 1, T(2026, 1, 1))
    f.run(conn, "w1", "c1", T(2026, 10, 3), T(2026, 10, 3, 5), devices)
    f.run(conn, "w2", "c2", T(2026, 10, 9), T(2026, 10, 9, 2, 30), devices[:1])
    f.data_until(conn, T(2026, 11, 3))


def test_cli_invoices_finalize_reconcile_report(conn, database_url, tmp_path):
    _month(conn)
    runner = CliRunner()
    f.build_usage(conn)
    listed = runner.invoke(app, ["billing", "invoices", "--period", "2026-10", "--json"])
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)["invoices"]) == 2
    done = runner.invoke(app, ["billing", "finalize", "--period", "2026-10", "--now", "2026-11-10", "--json"])
    assert json.loads(done.stdout)["finalized"] == ["INV-000001", "INV-000002"]
    checked = runner.invoke(app, ["billing", "reconcile", "--json"])
    assert checked.exit_code == 0
    assert json.loads(checked.stdout) == {
        "checked": 2,
        "periods": 1,
        "customer_periods": 2,
        "energy_lines": 0,
        "differences": [],
    }
    conn.execute("update billing.invoices set status = 'sent' where invoice_number = 'INV-000001'")
    report = runner.invoke(
        app, ["billing", "report", "--period", "2026-10", "--out", str(tmp_path), "--json"]
    )
    assert report.exit_code == 0, report.output
    assert (tmp_path / "INV-000001.pdf").exists() and (tmp_path / "INV-000002.csv").exists()
    # a planted difference makes reconcile exit 1
    f.run(conn, "w3", "c1", T(2026, 10, 20), T(2026, 10, 20, 1), ["h100-gpu0"])
    assert runner.invoke(app, ["billing", "reconcile"]).exit_code == 1


def test_monthly_assets_materialize(conn, database_url):
    from assets import billing

    _month(conn)
    f.build_usage(conn)
    result = dg.materialize(
        [billing.invoice_drafts, billing.invoices],
        partition_key="2026-10-01",
        resources={"postgres": PostgresResource.at(database_url)},
    )
    assert result.success
    numbers = [r[0] for r in conn.execute("select invoice_number from billing.invoices order by 1")]
    # October's grace period ended on 4 Nov 2026 (the assets finalize at the wall-clock time)
    assert numbers == ["INV-000001", "INV-000002"]
