"""Allocation replay on real-like prices: series readers, hashprice from blockchain.com exports, the
replay's per-month figures, and ``hcp eval allocation`` on generated and real price files."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ingestion.errors import IngestError
from ingestion.formats.series import read_hashprice, read_price_series
from kernels.forecasting.sources import hashprice_from_revenue
from kernels.planning import Fleet
from kernels.planning.replay import replay

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
BOM = "\ufeff"


def dominion_like(days: int, start: str = "2019-07-01", seed: int = 3) -> pd.Series:
    """Hourly RT LMP like PJM Dominion's: ~25 USD/MWh with an evening peak, a few negative night
    hours, and an afternoon scarcity spike on day 2."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=24 * days, freq="h", tz="UTC")
    hour = index.hour.to_numpy()
    price = 25 + 12 * np.sin((hour - 14) / 24 * 2 * np.pi) + rng.normal(0, 4, len(index))
    price[(hour == 8) & (np.arange(len(index)) % 72 == 8)] = -12.0
    price[24 * 2 + 19 : 24 * 2 + 23] = [420.0, 880.0, 640.0, 300.0]
    return pd.Series(price, index=index)


def small_fleet() -> Fleet:
    devices = pd.DataFrame(
        {
            "device_id": [f"a{i}" for i in range(4)],
            "facility_id": "f1",
            "device_kind": "asic",
            "gpu_pool": None,
            "hardware_model": ["S19", "S19", "M50S", "S9"],
            "nominal_power_kw": [3.0, 3.0, 3.3, 1.3],
            "nominal_hashrate_ths": [140.0, 140.0, 126.0, 13.5],
        }
    )
    return Fleet(devices, pd.DataFrame({"facility_id": ["f1"], "power_cap_kw": [np.nan], "pue": [1.1]}))


def test_hashprice_from_miners_revenue_and_hash_rate_interpolated_daily():
    at = pd.to_datetime(["2019-01-01 23:00", "2019-01-04 23:00"], utc=True)
    revenue = pd.Series([10e6, 16e6], index=at)  # USD/day
    rate = pd.Series([40e6, 40e6], index=at)  # TH/s
    hp = hashprice_from_revenue(revenue, rate)
    assert list(hp.index.strftime("%Y-%m-%d")) == ["2019-01-02", "2019-01-03", "2019-01-04"]
    # linear in time between the exports: 1 h, 25 h, 49 h after the first of 72 h
    expected = [(10e6 + 6e6 * h / 72) / 40e6 for h in (1, 25, 49)]
    assert hp.to_numpy() == pytest.approx(expected)


def test_read_hashprice_folder_of_blockchain_exports_with_bom(tmp_path):
    (tmp_path / "miners-revenue.csv").write_text(
        BOM + "Timestamp,miners-revenue\n2019-01-01 23:00:00,10000000\n2019-01-03 23:00:00,12000000\n"
    )
    (tmp_path / "hash-rate.csv").write_text(
        BOM + "Timestamp,hash-rate\n2019-01-01 23:00:00,40000000\n2019-01-03 23:00:00,40000000\n"
    )
    hp = read_hashprice(tmp_path)
    assert len(hp) == 2 and hp.iloc[0] == pytest.approx((10e6 + 2e6 / 48) / 40e6)
    (tmp_path / "hash-rate.csv").write_text(BOM + "Timestamp,hash-rate\n2019-01-01 23:00:00,n/a\n")
    with pytest.raises(IngestError) as err:
        read_hashprice(tmp_path)
    assert "hash-rate.csv, line 2, field 'hash-rate'" in str(err.value)
    (tmp_path / "hash-rate.csv").unlink()
    with pytest.raises(IngestError, match="hash-rate.csv"):
        read_hashprice(tmp_path)


def test_read_price_series_utc_hours_sorted_duplicates_averaged(tmp_path):
    path = tmp_path / "lmp.csv"
    path.write_text(
        "datetime_beginning_utc,zone,rt_lmp\n"
        "2019-03-10 07:00:00+00:00,DOM,30\n"
        "2019-03-10 05:00:00+00:00,DOM,20\n"
        "2019-03-10 05:30:00+00:00,DOM,-10\n"  # a half-hour row goes into its hour
        "2019-03-10T02:00:00-05:00,DOM,40\n"  # an offset: 07:00 UTC again
    )
    series = read_price_series(path)
    assert list(series.index.strftime("%H:%M")) == ["05:00", "07:00"]
    assert list(series) == [5.0, 35.0] and str(series.index.tz) == "UTC"
    path.write_text(
        "datetime_beginning_utc,rt_lmp\n2019-03-10 05:00:00+00:00,30\n2019-03-10 06:00:00+00:00,x\n"
    )
    with pytest.raises(IngestError) as err:
        read_price_series(path)
    assert "line 3, field 'rt_lmp'" in str(err.value) and "'x'" in str(err.value)
    with pytest.raises(IngestError, match="--price-col"):
        read_price_series(path, price_col="total")


def test_replay_months_policies_and_the_strike_rule_on_a_spike():
    prices = dominion_like(6)
    hashprice = pd.Series(0.06, index=pd.date_range("2019-06-25", periods=20, freq="D", tz="UTC"))
    result = replay(small_fleet(), prices, hashprice)
    daily = result.daily
    assert daily["day"].nunique() == 5 and result.skipped_days == 0  # the first day only feeds the forecast
    by = daily.pivot_table(index="day", columns="policy", values="realized_profit_usd")
    # perfect foresight is the upper reference over the replay (a day alone is not: each policy
    # starts it in the state it left the day before, and foresight may start with devices off)
    totals = by.sum()
    assert totals["perfect_foresight"] >= totals[["optimizer", "strike_price", "always_on"]].max() - 1e-6
    spike_day = daily[(daily["day"] == pd.Timestamp("2019-07-03").date())].set_index("policy")
    assert (
        spike_day.loc["strike_price", "curtailed_hours"] >= 4
        and spike_day.loc["always_on", "curtailed_hours"] == 0
    )
    assert (
        spike_day.loc["optimizer", "realized_profit_usd"] > spike_day.loc["always_on", "realized_profit_usd"]
    )
    month = result.monthly().iloc[0]
    assert month["days"] == 5
    assert month["profit_optimizer"] == pytest.approx(by["optimizer"].sum())
    assert month["optimizer_share_of_foresight"] == pytest.approx(
        by["optimizer"].sum() / by["perfect_foresight"].sum()
    )
    years = result.yearly()
    assert list(years["year"]) == ["2019", "all"] and years["restarts_strike_price"].iloc[0] >= 1


def _price_csv(tmp_path: Path, prices: pd.Series) -> Path:
    path = tmp_path / "lmp.csv"
    frame = pd.DataFrame({"datetime_beginning_utc": prices.index.strftime("%Y-%m-%d %H:%M:%S+00:00"),
                          "zone": "DOM", "pnode_name": "DOM", "rt_lmp": prices.to_numpy()})  # fmt: skip
    frame.sample(frac=1.0, random_state=1).to_csv(path, index=False)  # unsorted, as real exports come
    return path


def test_eval_allocation_cli_on_a_generated_price_file(tmp_path):
    from orchestration.cli import app

    path = _price_csv(tmp_path, dominion_like(5))
    hp = tmp_path / "hashprice.csv"
    hp.write_text("date,hashprice_usd_per_th_day\n2019-06-30,0.05\n2019-07-10,0.05\n")
    args = ["eval", "allocation", "--prices", str(path), "--devices", "20", "--hashprice", str(hp)]
    out = CliRunner().invoke(app, [*args, "--from", "2019-07-03", "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout.strip().splitlines()[-1])
    assert payload["days"] == 3 and payload["fleet"]["devices"] == 20 and payload["hashprice"] == str(hp)
    month = payload["months"][0]
    assert month["month"] == "2019-07" and month["profit_perfect_foresight"] >= month["profit_optimizer"]
    assert set(payload["goals"]) == {
        "optimizer_at_least_strike_every_month",
        "optimizer_share_of_foresight_min_year",
    }
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0 and "2019-07" in table.output and "lowest yearly share" in table.output
    bad = CliRunner().invoke(app, [*args[:4], "--price-col", "nope"])
    assert bad.exit_code == 1 and "nope" in bad.output and "Traceback" not in bad.output


@pytest.mark.skipif(
    not (SHARED / "prices" / "pjm_dom_rt_lmp_2018_2019.csv").is_file(), reason="../shared/data is absent"
)
def test_eval_allocation_on_real_dominion_prices_and_bitcoin_history():
    from orchestration.cli import app

    out = CliRunner().invoke(app, ["eval", "allocation", "--prices", str(SHARED / "prices" / "pjm_dom_rt_lmp_2018_2019.csv"),
                                   "--hashprice", str(SHARED / "bitcoin"), "--devices", "20",
                                   "--from", "2019-07-01", "--to", "2019-07-04", "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout.strip().splitlines()[-1])
    assert payload["days"] == 3 and [m["month"] for m in payload["months"]] == ["2019-07"]
    year = payload["years"][0]
    assert year["profit_perfect_foresight"] >= year["profit_optimizer"] > 0
