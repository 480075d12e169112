"""The restore drill: back up a platform, destroy its data folder, restore onto a new empty server.
Every table's checksum is equal (platform and Dagster databases), the PII key comes back only with
the passphrase, and a finalized invoice's PDF reproduces."""

from __future__ import annotations

import base64
import io
import shutil
import tarfile
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from pypdf import PdfReader

from billing import invoices as inv
from billing.reports import render_invoice_pdf
from core import backup as bk
from core import db
from core.migrate import migrate
from core.roles import APP_ROLE, ensure_roles, role_url
from core.settings import get_settings
from orchestration.instance import dagster_yaml, ensure_dagster_database
from tests.billing import factories as f

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

PASSPHRASE = "correct horse battery staple"


def T(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _pdf(url: str, invoice_id: int) -> list[str]:
    """The PDF's page text (bill-to, lines, totals) as a reader extracts it; the file's bytes carry
    its creation time and an embedded font subset, so they differ between renderings."""
    with db.connect(url) as conn:
        _, content = render_invoice_pdf(conn, invoice_id)
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]
    assert any("20.00" in page for page in pages)  # the invoice total is drawn
    return pages


@dg.asset
def drill_marker() -> int:
    return 1


def _platform(url: str, home: Path) -> tuple[int, Path]:
    """Migrations, a finalized invoice, and a Dagster run in Dagster's PostgreSQL storage."""
    migrate(url)
    ensure_roles(url)  # dbt runs as the pipeline role
    with db.connect(url, autocommit=True) as conn:
        f.customer(conn, "c1")
        devices = f.gpus(conn, "h100", f.H100, 1)
        f.card(conn, "rc-1", None, f.H100, "inference", "2.00", 1, T(2026, 1, 1))
        f.run(conn, "w1", "c1", T(2026, 10, 1), T(2026, 10, 1, 10), devices)
        f.data_until(conn, T(2026, 11, 2))
        f.build_usage(conn)
        [draft] = inv.build_drafts(conn, "2026-10")
        inv.finalize_invoice(conn, draft.invoice_id, now=T(2026, 11, 5))
        total = conn.execute(
            "select total_usd from billing.invoices where invoice_id = %s", (draft.invoice_id,)
        ).fetchone()[0]
    assert total == Decimal("20.00")
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(dagster_yaml())
    return draft.invoice_id, dagster_home


def _checksums(url: str) -> dict[str, str]:
    return {
        **bk.table_checksums(url),
        **{f"dagster:{k}": v for k, v in bk.table_checksums(bk.dagster_url(url)).items()},
    }


def test_backup_destroy_restore(monkeypatch, tmp_path):
    work = Path(tempfile.mkdtemp(prefix="hcp-drill-"))  # not under pytest's 0700 basetemp (see conftest)
    home = work / "home"
    key = base64.b64encode(b"d" * 32).decode()
    monkeypatch.setenv("HCP_HOME", str(home))
    monkeypatch.setenv("HCP_PII_KEY", key)
    get_settings.cache_clear()
    first = work / "pgdata-first"
    url = db.start_embedded(first)
    try:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        invoice_id, dagster_home = _platform(url, home)
        monkeypatch.setenv("HCP_DAGSTER_PG_URL", ensure_dagster_database(url))
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            assert dg.materialize([drill_marker], instance=instance).success
        before, pdf_before = _checksums(url), _pdf(url, invoice_id)
        assert any(
            name.startswith("dagster:") and not value.startswith("0:") for name, value in before.items()
        )

        manifest = bk.backup(url, work / "backups", PASSPHRASE, key)
        with tarfile.open(manifest["path"]) as tar:
            names = set(tar.getnames())
            assert names == {"platform.dump", "dagster.dump", "pii.key.sealed", "manifest.json"}
            # the backup alone does not reveal the key: it is sealed under the passphrase
            assert key.encode() not in tar.extractfile("pii.key.sealed").read()
    finally:
        db.stop_embedded(first)
    shutil.rmtree(first)  # the data folder is gone
    monkeypatch.delenv("HCP_PII_KEY")  # and so is the key: it must come back from the backup
    get_settings.cache_clear()

    second = work / "pgdata-second"
    restored_url = db.start_embedded(second)
    try:
        monkeypatch.setenv("DATABASE_URL", restored_url)
        get_settings.cache_clear()
        key_file = home / "secrets" / "pii.key"
        with pytest.raises(bk.BackupError, match="passphrase"):
            bk.restore(restored_url, Path(manifest["path"]), "wrong", key_file)
        assert not key_file.exists()
        done = bk.restore(restored_url, Path(manifest["path"]), PASSPHRASE, key_file)
        assert done["pii_key_written"] and done["pii_key_id"] == manifest["pii_key_id"]
        assert _checksums(restored_url) == before
        assert _pdf(restored_url, invoice_id) == pdf_before  # bill-to decrypts with the restored key
        # the dump carries no owners or grants: the roles get theirs back, and the app reads again
        ensure_roles(restored_url)
        with db.connect(role_url(restored_url, APP_ROLE)) as conn:
            assert conn.execute("select count(*) from billing.invoices").fetchone()[0] == 1
            owner = conn.execute("select tableowner from pg_tables where tablename = 'invoices'").fetchone()
            assert owner == ("hcp_owner",)
        with pytest.raises(bk.BackupError, match="not empty"):  # onto an empty server only
            bk.restore(restored_url, Path(manifest["path"]), None, None)
    finally:
        db.stop_embedded(second)
        get_settings.cache_clear()
        shutil.rmtree(work, ignore_errors=True)
