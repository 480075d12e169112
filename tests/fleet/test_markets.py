"""Live prices for the configured ISOs from recorded gridstatus responses: rate limits are retried,
revisions become new versions that staging (real dbt) prefers, and the source is off without network."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import requests

from core.dbt import run_dbt
from ingestion.live.inventory import Market
from ingestion.live.markets import PricesOff, load_market_prices

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = {
    ("ERCOT", "REAL_TIME_15_MIN"): FIXTURES.parent.parent
    / "ingestion"
    / "fixtures"
    / "gridstatus_ercot_spp.csv",
    ("ERCOT", "DAY_AHEAD_HOURLY"): FIXTURES / "gridstatus_ercot_dam.csv",
    ("PJM", "REAL_TIME_5_MIN"): FIXTURES / "gridstatus_pjm_lmp.csv",
    ("CAISO", "REAL_TIME_15_MIN"): FIXTURES / "gridstatus_caiso_lmp.csv",
}


class Recorded:
    """Recorded gridstatus responses; ``failures`` HTTP errors of ``status`` come first."""

    def __init__(self, failures: int = 0, status: int = 429, revise: dict | None = None):
        self.failures, self.status, self.revise = failures, status, revise or {}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, iso: str, day, market: str) -> pd.DataFrame:
        self.calls.append((iso, market))
        if self.failures:
            self.failures -= 1
            response = requests.Response()
            response.status_code = self.status
            raise requests.HTTPError(f"{self.status} Client Error", response=response)
        path = RECORDED.get((iso, market))
        frame = (
            pd.read_csv(path)
            if path
            else pd.DataFrame(columns=["Interval Start", "Interval End", "Location", "Market", "LMP"])
        )
        price = "SPP" if "SPP" in frame.columns else "LMP"
        for (location, start), value in self.revise.items():
            frame.loc[(frame["Location"] == location) & (frame["Interval Start"] == start), price] = value
        return frame


MARKETS = [Market("ERCOT", ("HB_NORTH",)), Market("PJM", ("WESTERN HUB",)), Market("CAISO", ())]


def test_rt_and_da_for_each_configured_market(fleet_db, database_url, tmp_path):
    fetch = Recorded()
    loads = load_market_prices(database_url, MARKETS, ["2026-01-15"], tmp_path, network=False, fetch=fetch)
    assert sorted(set(fetch.calls)) == [
        ("CAISO", "DAY_AHEAD_HOURLY"), ("CAISO", "REAL_TIME_15_MIN"), ("ERCOT", "DAY_AHEAD_HOURLY"),
        ("ERCOT", "REAL_TIME_15_MIN"), ("PJM", "DAY_AHEAD_HOURLY"), ("PJM", "REAL_TIME_5_MIN"),
    ]  # fmt: skip
    stored = fleet_db.execute(
        "select market, node_name, price_kind, count(*) from raw.energy_prices group by 1, 2, 3 order by 1, 2, 3"
    ).fetchall()
    assert stored == [
        ("CAISO", "TH_NP15_GEN-APND", "rt", 2),
        ("ERCOT", "HB_NORTH", "da", 2),
        ("ERCOT", "HB_NORTH", "rt", 2),
        ("PJM", "WESTERN HUB", "rt", 2),
    ]  # nodes not configured (LZ_HOUSTON, HB_WEST, AEP GEN HUB) are left out
    assert sum(load.rows for load in loads) == 8


def test_rate_limit_is_retried_with_backoff(fleet_db, database_url, tmp_path):
    fetch = Recorded(failures=2, status=429)
    loads = load_market_prices(
        database_url, MARKETS[:1], ["2026-01-15"], tmp_path, network=False, fetch=fetch, kinds=("rt",),
        initial_backoff_s=0.01,
    )  # fmt: skip
    assert len(fetch.calls) == 3
    assert loads[0].load.loaded == 2


def test_client_errors_are_not_retried(fleet_db, database_url, tmp_path):
    fetch = Recorded(failures=1, status=404)
    with pytest.raises(requests.HTTPError, match="404"):
        load_market_prices(database_url, MARKETS[:1], ["2026-01-15"], tmp_path, network=False, fetch=fetch,
                           kinds=("rt",), initial_backoff_s=0.01)  # fmt: skip
    assert len(fetch.calls) == 1


def test_revised_price_is_a_new_version_and_staging_takes_it(fleet_db, database_url, tmp_path):
    load_market_prices(
        database_url, MARKETS[:1], ["2026-01-15"], tmp_path, network=False, fetch=Recorded(), kinds=("rt",)
    )
    revised = Recorded(revise={("HB_NORTH", "2026-01-15 00:15:00-06:00"): 99.5})
    [again] = load_market_prices(
        database_url, MARKETS[:1], ["2026-01-15"], tmp_path, network=False, fetch=revised, kinds=("rt",)
    )
    assert (again.load.loaded, again.load.duplicates_skipped) == (1, 1)  # only the revised interval
    versions = fleet_db.execute(
        "select price_usd_per_mwh::float8 from raw.energy_prices where interval_start_utc = '2026-01-15T06:15:00Z' order by load_id"
    ).fetchall()
    assert versions == [(22.35,), (99.5,)]
    run_dbt(database_url, "run", "--select", "stg_raw__energy_prices", target_path=tmp_path / "dbt")
    staged = fleet_db.execute(
        "select price_usd_per_mwh::float8 from staging.stg_raw__energy_prices where interval_start_at = '2026-01-15T06:15:00Z'"
    ).fetchall()
    assert staged == [(99.5,)]


def test_off_without_network(database_url, tmp_path):
    with pytest.raises(PricesOff, match="HCP_FLEET_NETWORK"):
        load_market_prices(database_url, MARKETS, ["2026-01-15"], tmp_path, network=False)
