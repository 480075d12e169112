"""The simulated GPU demand: a diurnal and weekly cycle, autoscaled inference, plausible utilisation."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from ingestion.simulator.clock import make_clock
from ingestion.simulator.demand import FAST_SD, diurnal_weekly, log_ar1
from ingestion.simulator.fleet import make_customers, make_fleet
from ingestion.simulator.workloads import simulate_workloads

END = datetime(2026, 11, 23)  # a Monday: the 14 days hold two whole US weekends


def _run(seed: int):
    clock = make_clock(END, 14, 5)
    fleet = make_fleet(3, 1000, np.random.default_rng([seed, 0]))
    customers = make_customers(10, np.random.default_rng([seed, 1]))["customer_id"].tolist()
    return clock, fleet, simulate_workloads(clock, fleet.devices, customers, np.random.default_rng([seed, 5]))


@pytest.fixture(scope="module")
def run():
    return _run(3)


def test_same_seed_same_workloads(run) -> None:
    _, _, again = _run(3)
    assert run[2].events == again.events
    assert np.array_equal(run[2].busy_type, again.busy_type)


def test_inference_follows_the_us_day_and_week(run) -> None:
    clock, fleet, work = run
    gpus = fleet.is_gpu
    inference = (work.busy_type[gpus] == 1).sum(axis=0)  # GPUs serving inference per interval
    stamps = pd.to_datetime(clock.epochs, unit="s")
    by_hour = pd.Series(inference).groupby(stamps.hour).mean()
    # US afternoon (17-22 UTC) against the small hours in the US (08-12 UTC)
    assert by_hour.loc[17:22].mean() > 1.6 * by_hour.loc[8:12].mean()
    local_weekday = (stamps - pd.Timedelta(hours=6)).weekday
    weekend, weekday = inference[local_weekday >= 5].mean(), inference[local_weekday < 5].mean()
    assert weekend < 0.9 * weekday


def test_the_customers_day_moves_with_daylight_saving() -> None:
    def shape(*stamps: str) -> np.ndarray:
        epochs = np.array([pd.Timestamp(s, tz="UTC").timestamp() for s in stamps], dtype=np.int64)
        return diurnal_weekly(epochs, 14.0, 0.7)

    # 14:00 in Chicago is 19:00 UTC in October (CDT) and 20:00 UTC in November (CST)
    october, november = (
        shape("2026-10-27 19:00", "2026-10-27 20:00"),
        shape("2026-11-03 20:00", "2026-11-03 19:00"),
    )
    assert october[0] == pytest.approx(november[0]) and october[0] > october[1]
    assert october[1] == pytest.approx(november[1])
    # the weekend starts at midnight in Chicago: 05:00 UTC in October, 06:00 UTC in November
    oct_midnight, nov_midnight = (
        shape("2026-10-31 04:30", "2026-10-31 05:30"),
        shape("2026-11-07 05:30", "2026-11-07 06:30"),
    )
    drop = oct_midnight[0] / oct_midnight[1]
    assert drop > 1.2 and nov_midnight[0] / nov_midnight[1] == pytest.approx(drop)


def test_utilisation_is_plausible_and_batch_fills_the_night(run) -> None:
    clock, fleet, work = run
    busy = work.busy_type[fleet.is_gpu]
    assert 0.55 <= (busy > 0).mean() <= 0.78
    batch = pd.Series((busy == 2).sum(axis=0)).groupby(pd.to_datetime(clock.epochs, unit="s").hour).mean()
    assert batch.loc[3:9].mean() > 2 * batch.loc[17:22].mean()  # overnight pipelines, not at the peak


def test_lifecycles_are_consistent(run) -> None:
    _, _, work = run
    events = pd.DataFrame(work.events)
    assert set(events["event_type"]) == {
        "submitted",
        "started",
        "paused",
        "resumed",
        "completed",
        "cancelled",
        "failed",
    }
    nxt = {"submitted": {"started", "cancelled"}, "started": {"paused", "completed", "failed", "cancelled"},
           "paused": {"resumed", "cancelled"}, "resumed": {"paused", "completed", "failed", "cancelled"}}  # fmt: skip
    for _, group in events.sort_values(["event_at"], kind="stable").groupby("workload_id"):
        kinds = group["event_type"].tolist()
        assert kinds[0] == "submitted"
        for a, b in zip(kinds, kinds[1:], strict=False):
            assert b in nxt[a], kinds
    replicas = events[events["workload_type"] == "inference"]
    # autoscaled replicas come and go with the traffic: many of them, each scaled in eventually
    assert replicas["workload_id"].nunique() > 200
    assert (replicas["event_type"] == "completed").sum() > 0.8 * replicas["workload_id"].nunique()


def test_log_ar1_has_the_asked_spread_and_memory() -> None:
    x = log_ar1(200_000, FAST_SD, 0.5, np.random.default_rng(0))
    assert x.std() == pytest.approx(FAST_SD, rel=0.02)
    assert np.corrcoef(x[:-1], x[1:])[0, 1] == pytest.approx(0.5, abs=0.01)
