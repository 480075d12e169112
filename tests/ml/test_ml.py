"""ML domain: metrics, event scoring, champion selection, eval CLI, detector, registry round trip."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from kernels.anomalies import detect, event_scores
from kernels.forecasting import Candidate, ForecastSeries, mae, mape, mase, profile_floor, select, smape
from kernels.forecasting.models import BASELINE, default_candidates, fit_predict
from kernels.forecasting.sources import gpu_hours, pool_demand


def test_metrics_hand_computed():
    actual, forecast = np.array([100.0, 200.0, 0.0]), np.array([110.0, 180.0, 0.0])
    assert mae(actual, forecast) == pytest.approx(10.0)
    assert mape(actual, forecast) == pytest.approx((10 + 10) / 2)  # zero actual left out
    assert smape(actual, forecast) == pytest.approx((2 * 10 / 210 + 2 * 20 / 380 + 0) / 3 * 100)
    train = np.array([1.0, 2.0, 4.0, 3.0])  # season 2: |4-1| + |3-2| -> scale 2
    assert mase(np.array([5.0]), np.array([3.0]), train, season=2) == pytest.approx(1.0)


def _t(hours: float) -> pd.Timestamp:
    return pd.Timestamp("2026-01-01") + pd.Timedelta(hours=hours)


def test_event_scoring_gap_overlap_false_positive():
    labels = pd.DataFrame({"device_id": ["a", "b"], "start": [_t(1), _t(5)], "end": [_t(2), _t(6)]})
    alerts = pd.DataFrame(
        {
            "device_id": ["a", "a", "a", "b"],
            # a: two alerts 30 min apart merge into one event overlapping the label; one far away = FP
            "start": [_t(0.5), _t(1.25), _t(10), _t(20)],
            "end": [_t(0.75), _t(1.5), _t(10.5), _t(21)],
        }
    )
    s = event_scores(alerts, labels)
    assert s["alert_events"] == 3 and s["faults_found"] == 1 and s["false_positives"] == 2
    assert s["precision"] == pytest.approx(1 / 3) and s["recall"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))


def _hourly(values: np.ndarray) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2026-01-01", periods=len(values), freq="h"))


def test_champion_is_seasonal_naive_on_pure_seasonal_series():
    y = _hourly(np.tile(np.sin(np.arange(24) / 24 * 2 * np.pi) * 10 + 50, 10))
    cands = [
        Candidate(BASELINE, "seasonal_naive", {"season": 24}),
        Candidate("avg", "seasonal_average", {"season": 24}),
    ]
    assert select(y, cands, horizon=24, folds=2).champion == BASELINE


def test_a_champion_that_fails_on_the_latest_data_gives_way_to_the_baseline():
    # a champion chosen on earlier data may not fit the latest (an optimizer that does not converge,
    # a degenerate stretch): the hourly forecast then comes from the seasonal-naive baseline, with the
    # error reported, instead of failing every series' forecast
    from kernels.forecasting.models import forecast_or_baseline

    y = _hourly(np.tile(np.sin(np.arange(24) / 24 * 2 * np.pi) * 10 + 50, 4))
    broken = Candidate("broken", "prophet", {"growth": "logistic"})  # no capacity column: Prophet raises
    pred, used, error = forecast_or_baseline(broken, y, 24, season=24)
    expected = fit_predict(Candidate(BASELINE, "seasonal_naive", {"season": 24}), y, 24)
    pd.testing.assert_frame_equal(pred, expected)
    assert used == BASELINE and error and "broken" in error
    good = Candidate("avg", "seasonal_average", {"season": 24})
    pred, used, error = forecast_or_baseline(good, y, 24, season=24)
    assert used == "avg" and error is None
    pd.testing.assert_frame_equal(pred, fit_predict(good, y, 24))


def test_challenger_wins_when_better():
    rng = np.random.default_rng(0)
    y = _hourly(np.tile(np.sin(np.arange(24) / 24 * 2 * np.pi) * 10 + 50, 14) + rng.normal(0, 3, 24 * 14))
    cands = [
        Candidate(BASELINE, "seasonal_naive", {"season": 24}),
        Candidate("avg", "seasonal_average", {"season": 24, "seasons": 5}),
    ]
    sel = select(y, cands, horizon=24, folds=3)
    assert sel.champion == "avg"
    assert sel.result("avg").metrics["mase"] < sel.result(BASELINE).metrics["mase"]


def test_statsforecast_challenger_wins_the_backtest_on_a_trending_daily_cycle():
    rng = np.random.default_rng(1)
    t = np.arange(24 * 12)
    # a daily cycle on a rising level: yesterday's copy lags the trend, AutoETS follows it
    y = _hourly(50 + 0.15 * t + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, len(t)))
    cands = [
        Candidate(BASELINE, "seasonal_naive", {"season": 24}),
        Candidate("autoets", "statsforecast", {"model": "autoets", "seasons": [24]}),
        Candidate("mstl_ets", "statsforecast", {"model": "mstl", "seasons": [24]}),
    ]
    sel = select(y, cands, horizon=24, folds=2)
    assert sel.champion in {"autoets", "mstl_ets"}
    champ = sel.result(sel.champion).metrics
    assert champ["mase"] < 0.5 * sel.result(BASELINE).metrics["mase"] and champ["mape"] < 2.0
    pred = fit_predict(cands[1], y, 24)
    assert (pred["yhat_lower"] < pred["yhat"]).all() and (pred["yhat"] < pred["yhat_upper"]).all()
    assert pred.index[0] == y.index[-1] + pd.Timedelta("1h")


def test_default_candidates_add_weekly_mstl_from_two_weeks_of_hourly_data():
    def names(days: int) -> dict[str, dict]:
        return {c.name: c.params for c in default_candidates(pd.Timedelta("1h"), 24 * days)}

    assert names(7)["mstl_ets"]["seasons"] == [24] and "autoets" in names(7)
    assert names(28)["mstl_ets"]["seasons"] == [24, 168]
    fifteen_min = {c.kind for c in default_candidates(pd.Timedelta("15min"), 96 * 28)}
    assert "statsforecast" not in fifteen_min  # AutoETS has no season past 24 steps


def test_bench_demand_accuracy_reports_24h_mape_per_pool():
    from orchestration.cli_ml import demand_accuracy

    rng = np.random.default_rng(2)
    t = np.arange(24 * 8)
    daily = 40 + 12 * np.cos(2 * np.pi * (t - 20) / 24)
    series = {
        "demand:h100": ForecastSeries(_hourly(daily + rng.normal(0, 1, len(t))), 48, "US"),
        "demand:l40s": ForecastSeries(_hourly(daily * rng.lognormal(0, 0.4, len(t))), 48, "US"),
        "hashprice": ForecastSeries(_hourly(daily), 7, None),
    }
    out = demand_accuracy(series, horizon=24, folds=2)
    pools = {p["series"]: p for p in out["pools"]}
    assert set(pools) == {"demand:h100", "demand:l40s"} and out["goal_mape"] == 10.0
    assert pools["demand:h100"]["meets_goal"] and pools["demand:h100"]["mape"] < 10
    assert not pools["demand:l40s"]["meets_goal"] and pools["demand:l40s"]["mape"] > 10
    for pool in pools.values():
        assert pool["mape"] == pytest.approx(pool["candidates"][pool["champion"]]["mape"])
    # the noise floor: small where the noise is small, and the noisy pool's error is mostly noise
    assert pools["demand:h100"]["floor_mape"] < 5 < pools["demand:l40s"]["floor_mape"]
    assert pools["demand:l40s"]["floor_mape"] > 0.5 * pools["demand:l40s"]["mape"]


def _office_demand(weeks: int, tz: str, start: str = "2026-01-05") -> pd.Series:
    """Hourly demand with a working-day cycle on the wall clock of ``tz`` (daylight saving
    included) whose weekends are 60% of a weekday; ``start`` is 00:00 UTC."""
    index = pd.date_range(start, periods=24 * 7 * weeks, freq="h")
    local = index.tz_localize("UTC").tz_convert(tz)
    day = 40 + 15 * np.cos(2 * np.pi * (local.hour - 14) / 24)
    return pd.Series(np.where(local.dayofweek >= 5, 0.6, 1.0) * day, index=index)


def test_similar_day_forecasts_a_weekend_from_weekends_in_local_time():
    y = _office_demand(4, "America/Chicago")
    friday = y[: y.index.get_loc(pd.Timestamp("2026-01-31 00:00"))]  # ends on Friday 18:00 in Chicago
    saturday = y.loc["2026-01-31 00:00":"2026-01-31 23:00"].to_numpy()

    def forecast(tz: str | None) -> pd.DataFrame:
        return fit_predict(Candidate("s", "similar_day", {"season": 24, "days": 5, "tz": tz}), friday, 24)

    local = forecast("America/Chicago")
    assert local.index[0] == pd.Timestamp("2026-01-31 00:00")
    np.testing.assert_allclose(local["yhat"].to_numpy(), saturday)
    assert (local["yhat_lower"] <= local["yhat"]).all() and (local["yhat"] <= local["yhat_upper"]).all()
    # read in UTC, the six hours before Chicago's Saturday look like a weekend: they are not
    utc = forecast(None)["yhat"].to_numpy()
    assert np.abs(utc - saturday)[:6].min() > 5 and np.allclose(utc[6:], saturday[6:])
    naive = fit_predict(Candidate(BASELINE, "seasonal_naive", {"season": 24}), friday, 24)["yhat"].to_numpy()
    assert mape(saturday, naive) > 30 and mape(saturday, local["yhat"].to_numpy()) < 1e-9

    # after the clocks go back (1 November 2026) the day starts an hour later in UTC: the days
    # before the change are read at the same wall-clock time, not 24 hours back
    fall = _office_demand(5, "America/Chicago", start="2026-10-05")
    cut = fall.index.get_loc(pd.Timestamp("2026-11-04 00:00"))
    after = fit_predict(
        Candidate("s", "similar_day", {"season": 24, "days": 5, "tz": "America/Chicago"}), fall[:cut], 24
    )
    np.testing.assert_allclose(after["yhat"].to_numpy(), fall.iloc[cut : cut + 24].to_numpy())

    noisy = y * np.random.default_rng(4).lognormal(0, 0.05, len(y))
    cands = default_candidates(pd.Timedelta("1h"), len(noisy), None, "America/Chicago")
    assert {c.params.get("tz") for c in cands if c.kind == "similar_day"} == {"America/Chicago"}
    sel = select(noisy, [c for c in cands if c.kind != "prophet"], horizon=24, folds=7)
    assert sel.champion.startswith("similar_day"), [
        (r.candidate.name, r.metrics["mape"]) for r in sel.results
    ]


def test_prophet_fits_on_the_local_clock_across_a_daylight_saving_change():
    fall = _office_demand(5, "America/Chicago", start="2026-10-05")
    cut = fall.index.get_loc(pd.Timestamp("2026-11-04 00:00"))
    actual = fall.iloc[cut : cut + 48].to_numpy()
    errors = {}
    for tz in (None, "America/Chicago"):
        params = {"daily": True, "weekly": True, "country": "US", "mode": "multiplicative", "tz": tz}
        pred = fit_predict(Candidate("p", "prophet", params), fall[:cut], 48)
        assert pred.index[0] == fall.index[cut] and len(pred) == 48  # still indexed in UTC
        errors[tz] = mape(actual, pred["yhat"].to_numpy())
    # in UTC the daily shape moved by an hour a few days ago; on the wall clock it did not
    assert errors["America/Chicago"] < 0.6 * errors[None], errors


def test_profile_floor_measures_the_noise_left_after_the_weekly_shape():
    y = _office_demand(4, "America/Chicago")
    assert profile_floor(y, 24 * 7, "America/Chicago") == pytest.approx(0, abs=1e-9)
    assert profile_floor(y, 24 * 7, None) > 1  # the wrong calendar leaves weekend hours unexplained
    # days before and after the clocks went back are compared at the same wall-clock time
    fall = _office_demand(5, "America/Chicago", start="2026-10-05")
    assert profile_floor(fall, 24 * 14, "America/Chicago") == pytest.approx(0, abs=1e-9)
    noisy = y * np.random.default_rng(5).lognormal(0, 0.1, len(y))
    # |e^x - 1| with x ~ N(0, 0.1) averages about 8%, plus the error of a mean of 3 to 19 other days
    assert 7 < profile_floor(noisy, 24 * 7, "America/Chicago") < 11


def test_pool_demand_takes_the_time_zone_of_the_customers_bringing_most_gpu_hours():
    def run(workload: str, customer: str, pool: str, start: str, end: str, gpus: int) -> list[dict]:
        ids = [f"{pool}-{i}" for i in range(gpus)]
        common = {"workload_id": workload, "customer_id": customer, "gpu_pool": pool, "gpus_requested": gpus}
        return [
            {**common, "event_type": "started", "event_at": pd.Timestamp(start, tz="UTC"), "device_ids": ids},
            {**common, "event_type": "completed", "event_at": pd.Timestamp(end, tz="UTC"), "device_ids": []},
        ]

    events = pd.DataFrame(
        run("w1", "east", "h100", "2026-01-01 00:00", "2026-01-01 04:00", 2)  # 8 GPU-hours
        + run("w2", "west", "h100", "2026-01-01 01:00", "2026-01-01 03:00", 1)  # 2 GPU-hours
        + run("w3", "west", "l40s", "2026-01-01 00:00", "2026-01-01 02:00", 1)
        + run("w4", "nobody", "l40s", "2026-01-01 02:00", "2026-01-01 03:30", 1)
    )
    demand, zones = pool_demand(events, {"east": "America/New_York", "west": "America/Los_Angeles"})
    assert zones == {"h100": "America/New_York", "l40s": "America/Los_Angeles"}
    pd.testing.assert_frame_equal(demand, gpu_hours(events), check_names=False)
    assert demand["h100"].sum() == pytest.approx(10.0) and demand["l40s"].sum() == pytest.approx(3.5)


def test_eval_forecast_cli(tmp_path):
    from orchestration.cli import app

    rng = np.random.default_rng(1)
    n = 24 * 12
    ts = pd.date_range("2026-03-01", periods=n, freq="h")
    y = 100 + 20 * np.sin(np.arange(n) / 24 * 2 * np.pi) + rng.normal(0, 2, n)
    frame = pd.DataFrame({"ds": ts.astype(str), "y": y})
    frame = pd.concat([frame, frame.iloc[[5]]]).drop(index=[40, 41])  # a duplicate and a gap
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    result = CliRunner().invoke(
        app, ["eval", "forecast", "--csv", str(path), "--horizon", "24", "--folds", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(payload["champion"]["metrics"]) == {"mape", "smape", "mae", "mase"}
    assert {c["name"] for c in payload["candidates"]} >= {BASELINE, "prophet_additive"}

    bad = CliRunner().invoke(
        app, ["eval", "forecast", "--csv", str(path), "--value-col", "nope", "--horizon", "24"]
    )
    assert bad.exit_code == 1 and "nope" in bad.output and "Traceback" not in bad.output

    def similar_day_zones(csv) -> set:
        out = CliRunner().invoke(
            app,
            ["eval", "forecast", "--csv", str(csv), "--horizon", "24", "--tz", "America/Chicago", "--json"],
        )
        assert out.exit_code == 0, out.output
        candidates = json.loads(out.stdout.strip().splitlines()[-1])["candidates"]
        return {c["params"]["tz"] for c in candidates if c["kind"] in ("similar_day", "prophet")}

    # UTC times are read on Chicago's calendar; naive ones are taken as its wall clock already
    utc = tmp_path / "utc.csv"
    frame.assign(ds=pd.to_datetime(frame["ds"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(utc, index=False)
    assert similar_day_zones(utc) == {"America/Chicago"}
    assert similar_day_zones(path) == {None}
    bad = CliRunner().invoke(
        app, ["eval", "forecast", "--csv", str(path), "--horizon", "24", "--tz", "Mars/Olympus"]
    )
    assert bad.exit_code == 1 and "Mars/Olympus" in bad.output and "Traceback" not in bad.output
    short = tmp_path / "short.csv"
    frame.iloc[:10].to_csv(short, index=False)
    bad = CliRunner().invoke(app, ["eval", "forecast", "--csv", str(short), "--horizon", "24"])
    assert bad.exit_code == 1 and "too few points" in " ".join(bad.output.split())


def test_detector_finds_injected_hashboard_failure():
    rng = np.random.default_rng(3)
    ts = pd.date_range("2026-01-01", periods=288, freq="5min")
    rows = []
    for d in range(12):
        power = 3.5 * (1 + rng.normal(0, 0.01, len(ts)))
        hashrate = 200 * (1 + rng.normal(0, 0.02, len(ts)))
        if d == 4:
            hashrate[100:160] *= 2 / 3
        temp = 65 + rng.normal(0, 1, len(ts))
        rows.append(
            pd.DataFrame(
                {
                    "device_id": f"a{d}",
                    "facility_id": "f",
                    "kind": "asic",
                    "model": "S21",
                    "ts": ts,
                    "power_kw": power,
                    "hashrate_ths": hashrate,
                    "gpu_util_pct": np.nan,
                    "temperature_c": temp,
                }
            )
        )
    events = detect(pd.concat(rows), pd.Timedelta("5min"))
    hit = events[events["device_id"] == "a4"]
    assert not hit.empty and "hashrate down" in hit["explanation"].iloc[0]
    labels = pd.DataFrame({"device_id": ["a4"], "start": [ts[100]], "end": [ts[160]]})
    scores = event_scores(events.rename(columns={"start_at": "start", "end_at": "end"}), labels)
    assert scores["recall"] == 1.0


def test_registry_round_trip_and_rollback(conn):
    from assets import ml_queries as q
    from kernels.forecasting.backtest import CandidateResult, Selection

    def selection(winner: str, mase_value: float) -> Selection:
        results = [
            CandidateResult(
                Candidate(winner, "seasonal_naive", {"season": 24}),
                {"mape": 1.0, "smape": 1.0, "mae": 1.0, "mase": mase_value},
            )
        ]
        return Selection(results, winner, 24, 3, 24)

    series = "test:rollback"
    start, end = pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-01-10", tz="UTC")
    first = q.record_selection(conn, series, selection(BASELINE, 0.9), start, end)
    second = q.record_selection(conn, series, selection("other", 0.5), start, end)
    assert first["status"] == "champion" and second["status"] == "champion"
    assert q.champion(conn, series)["version"] == 2
    forecast = pd.DataFrame(
        {"yhat": [1.0, 2.0], "yhat_lower": [0.5, 1.5], "yhat_upper": [1.5, 2.5]},
        index=pd.date_range("2026-01-10", periods=2, freq="h"),
    )
    assert q.write_forecast(conn, series, 2, "other", end.to_pydatetime(), forecast) == 2
    rows = conn.execute("select count(*) from ml.champion_forecasts where series = %s", (series,)).fetchone()[
        0
    ]
    assert rows == 2
    assert q.rollback(conn, series, 1, actor="test") == {"series": series, "before": 2, "after": 1}
    assert q.champion(conn, series)["version"] == 1
    audit = conn.execute(
        "select action, after from ops.audit_log where entity = %s", (f"ml.models:{series}",)
    ).fetchall()
    assert audit[-1][0] == "ml.rollback" and audit[-1][1] == {"champion_version": 1}
    with pytest.raises(q.RollbackError):
        q.rollback(conn, series, 99, actor="test")


def _gpu_fleet(rng: np.random.Generator, ts: pd.DatetimeIndex) -> pd.DataFrame:
    """16 GPUs whose utilization swings with customers' jobs (diurnal, bursts, idle spells); their
    temperature follows ambient and power, rounded like DCGM."""
    hours = np.arange(len(ts)) / 12
    ambient = 25 + 5 * np.sin(2 * np.pi * hours / 24)
    rows = []
    for d in range(16):
        busy = rng.random(len(ts) // 24).repeat(24)[: len(ts)] < 0.7  # jobs start and stop every 2 h
        util = np.where(
            busy, 55 + 38 * (0.5 + 0.5 * np.cos(2 * np.pi * hours / 24)) + rng.normal(0, 4, len(ts)), 1
        )
        util = np.clip(np.round(util), 0, 100)
        watts = (60 + 640 * (util / 100) ** 0.9) * (1 + rng.normal(0, 0.02, len(ts)))
        temp = ambient + 8 + 45 * watts / 700 + rng.normal(0, 0.8, len(ts))
        rows.append(
            pd.DataFrame(
                {
                    "device_id": f"g{d:02d}",
                    "facility_id": "f",
                    "kind": "gpu",
                    "model": "H100",
                    "ts": ts,
                    "power_kw": watts / 1000,
                    "hashrate_ths": np.nan,
                    "gpu_util_pct": util,
                    "temperature_c": temp,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_gpu_workload_swings_raise_no_alert_faults_do():
    rng = np.random.default_rng(5)
    ts = pd.date_range("2026-01-01", periods=3 * 288, freq="5min")
    fleet = _gpu_fleet(rng, ts)
    hot = fleet["device_id"].eq("g03") & fleet["ts"].between(ts[400], ts[435])
    fleet.loc[hot, "temperature_c"] += np.linspace(0, 25, hot.sum())
    stuck = fleet["device_id"].eq("g07") & fleet["ts"].between(ts[600], ts[640])
    fleet.loc[stuck, "temperature_c"] = fleet.loc[stuck, "temperature_c"].iloc[0]
    fleet["temperature_c"] = fleet["temperature_c"].round()
    events = detect(fleet, pd.Timedelta("5min"))
    assert set(events["device_id"]) == {"g03", "g07"}, events[["device_id", "start_at", "explanation"]]
    assert "stuck sensor" in events.loc[events["device_id"] == "g07", "explanation"].iloc[0]
    assert "temperature" in events.loc[events["device_id"] == "g03", "metric"].iloc[0]
    labels = pd.DataFrame(
        {"device_id": ["g03", "g07"], "start": [ts[400], ts[600]], "end": [ts[435], ts[640]]}
    )
    scores = event_scores(events.rename(columns={"start_at": "start", "end_at": "end"}), labels)
    assert scores["f1"] == 1.0


def test_fitted_detector_scores_new_rows_without_refitting(monkeypatch):
    import importlib

    from kernels.anomalies import fit_fleet, residual_features
    from kernels.anomalies.detect import score_rows

    rng = np.random.default_rng(6)
    ts = pd.date_range("2026-01-01", periods=2 * 288, freq="5min")
    fleet = _gpu_fleet(rng, ts)
    history, latest = fleet[fleet["ts"] < ts[-12]], fleet[fleet["ts"] >= ts[-12]]
    detector, _ = fit_fleet(history)

    def no_refit(*args, **kwargs):
        raise AssertionError("scoring refitted a detector")

    monkeypatch.setattr(importlib.import_module("kernels.anomalies.detect"), "fit_ensemble", no_refit)
    features, calibration = residual_features(latest, detector.calibration)
    assert calibration is detector.calibration
    scored = score_rows(features, detector)
    assert len(scored) == len(latest) and not scored["flagged"].any()


def test_persistence_needs_k_of_n_per_device():
    from kernels.anomalies.detect import persistent

    flags = np.array([1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1], bool)
    devices = np.array(["a"] * 4 + ["b"] * 7 + ["c"] * 3)
    assert persistent(flags, devices, 3, 4).astype(int).tolist() == [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]


def test_champion_beats_seasonal_naive_or_is_seasonal_naive():
    from kernels.forecasting.backtest import CandidateResult, choose_champion

    def result(name: str, mase_value: float) -> CandidateResult:
        return CandidateResult(Candidate(name, "seasonal_average", {"season": 24}), {"mase": mase_value})

    # better than the baseline on the backtest but still worse than the seasonal-naive scale
    assert choose_champion([result(BASELINE, 1.5), result("avg", 1.2)]) == BASELINE
    assert choose_champion([result(BASELINE, 1.5), result("avg", 0.8)]) == "avg"


def test_scoring_windows_cover_only_what_is_new_up_to_the_backfill():
    from datetime import UTC, datetime, timedelta

    from assets.anomalies import BACKFILL, scoring_windows

    latest = datetime(2026, 11, 20, 23, 55, tzinfo=UTC)
    day, hour = timedelta(days=1), timedelta(hours=1)
    # an hourly run after the last: only the new hour, open-ended (issue 17: cost of the new hour)
    assert scoring_windows(latest, latest - 10 * day, latest - hour) == [(latest - hour, None)]
    # nothing new since the last run: the newest row again (an empty window would skip the write)
    assert scoring_windows(latest, latest - 10 * day, latest) == [(latest, None)]
    # first run on 3 days of data: 3 whole days back from the newest row, oldest first, contiguous
    earliest = datetime(2026, 11, 18, tzinfo=UTC)
    windows = scoring_windows(latest, earliest, None)
    assert windows == [(earliest, latest - 2 * day), (latest - 2 * day, latest - day), (latest - day, None)]
    # a long history: never further back than the backfill
    windows = scoring_windows(latest, latest - 60 * day, None)
    assert len(windows) == BACKFILL / day and windows[0][0] == latest - BACKFILL
    # the scheduler was down for two days: those days are caught up, a day at most per window
    windows = scoring_windows(latest, latest - 60 * day, latest - 2 * day - hour)
    assert windows[0][0] == latest - 2 * day - hour and len(windows) == 3
    # a big fleet reads fewer hours at a time
    assert len(scoring_windows(latest, latest - 60 * day, latest - 2 * day, chunk=6 * hour)) == 8


def test_fit_sample_keeps_whole_intervals_of_a_big_fleet():
    from assets.anomalies import fit_stride

    # the default fleet's day is read whole; 300k devices' day keeps every stride-th interval (< 2M rows)
    assert fit_stride(devices=1_000, intervals=288) == 1
    stride = fit_stride(devices=300_000, intervals=288)
    assert 300_000 * -(-288 // stride) <= 2_000_000 < 300_000 * -(-288 // (stride - 1))


def test_a_read_holds_its_lead_in_under_the_row_limit_and_a_big_fleet_goes_facility_by_facility():
    from datetime import timedelta

    from assets.anomalies import LEAD_IN, _chunk, facility_batches

    five, hour, limit = timedelta(minutes=5), timedelta(hours=1), 4_000_000
    # 30,000 devices: 9 h windows, whose 11 h read with the lead-in is 3.96 M rows: the fleet at once
    chunk = _chunk(30_000, five, limit)
    assert chunk == 9 * hour and 30_000 * (chunk + LEAD_IN) / five <= limit
    assert facility_batches({"a": 10_000, "b": 20_000}, chunk, five, limit) == [None]
    # 300,000 devices: one hour and its lead-in are 10.8 M rows; three facilities of 3.6 M each
    chunk = _chunk(300_000, five, limit)
    assert chunk == hour
    fleet = {"a": 100_000, "b": 100_000, "c": 100_000}
    assert facility_batches(fleet, chunk, five, limit) == [["a"], ["b"], ["c"]]
    # small facilities share a read; one over the limit is read alone, whole (never split)
    fleet = {"a": 20_000, "b": 30_000, "big": 200_000, "c": 40_000}
    assert facility_batches(fleet, chunk, five, limit) == [["a", "b"], ["big"], ["c"]]
    # a small fleet: a day at a time
    assert _chunk(1_000, five, limit) == 24 * hour
