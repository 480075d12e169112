"""The live price source, driven by a recorded gridstatus DataFrame instead of the network."""

from __future__ import annotations

import builtins

import pandas as pd
import pytest

from ingestion import live
from tests.ingestion.conftest import FIXTURES

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

RECORDED = FIXTURES / "gridstatus_ercot_spp.csv"


def test_normalize_gridstatus_rows():
    rows = live.normalize(live.read_recorded(RECORDED), "ercot")
    assert rows.columns.tolist() == [
        "market", "node_name", "price_kind", "interval_start_utc", "interval_minutes", "price_usd_per_mwh",
    ]  # fmt: skip
    assert rows.iloc[0].tolist() == ["ERCOT", "HB_NORTH", "rt", "2026-01-15T06:00:00Z", 15, 21.1]


def test_recorded_live_prices_load_through_the_file_path(raw, database_url, tmp_path):
    result = live.ingest_live(database_url, "ERCOT", "2026-01-15", recorded=RECORDED, landing=tmp_path)
    assert (result.kind, result.loaded, result.quarantined) == ("prices", 3, 0)
    assert (tmp_path / "prices" / "live").is_dir()
    stored = raw.execute(
        "select node_name, interval_start_local from raw.energy_prices order by 1, 2"
    ).fetchall()
    assert stored[0] == ("HB_NORTH", pd.Timestamp("2026-01-15 00:00").to_pydatetime())
    again = live.ingest_live(database_url, "ERCOT", "2026-01-15", recorded=RECORDED, landing=tmp_path)
    assert (again.loaded, again.duplicates_skipped) == (0, 3)


def test_missing_gridstatus_is_a_clear_error(monkeypatch):
    real_import = builtins.__import__

    def no_gridstatus(name, *args, **kwargs):
        if name == "gridstatus":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gridstatus)
    with pytest.raises(live.LiveSourceError, match="uv sync --extra live"):
        live.fetch_gridstatus("ERCOT", "2026-01-15")
