"""The causal univariate detector (kernels.anomalies.streaming), its event scoring
(kernels.anomalies.evaluation) and ``hcp eval anomalies`` on folders of labelled series."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from kernels.anomalies.evaluation import mean_metrics, oracle_threshold, series_metrics
from kernels.anomalies.streaming import StreamConfig, causal_threshold, detect_stream, suppress

STEP = pd.Timedelta("5min")
DAY = 288
NAB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nab"


def _series(days: float = 6, seed: int = 1, daily: float = 10.0, noise: float = 1.0) -> pd.Series:
    """A 5-minute series with a daily cycle and noise (no anomaly)."""
    n = int(days * DAY)
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.arange(n) / DAY
    values = 50 + daily * np.sin(phase) + rng.normal(0, noise, n)
    return pd.Series(values, index=pd.date_range("2026-03-01", periods=n, freq=STEP))


def test_scores_and_alerts_use_no_future_points():
    y = _series().to_numpy()
    y[1500] += 40
    full = detect_stream(y, STEP)
    cut = 1400  # the first 1400 points see the same scores whatever comes after them
    part = detect_stream(y[:cut], STEP)
    changed = y.copy()
    changed[cut:] = changed[cut:] * 3 + 100
    other = detect_stream(changed, STEP)
    np.testing.assert_allclose(part.scores, full.scores[:cut])
    np.testing.assert_allclose(other.scores[:cut], full.scores[:cut])
    np.testing.assert_allclose(other.thresholds[:cut], full.thresholds[:cut])
    assert list(part.alerts) == [a for a in full.alerts if a < cut]


def test_a_spike_raises_one_alert_and_the_daily_cycle_none():
    y = _series(days=6).to_numpy()
    quiet = detect_stream(y, STEP)
    # a 15-minute spike, 80 noise sds up: it must also stand out from the day's swing (+-10), as the
    # spike score is the smaller of the z against the last day and against the same time of day
    y[4 * DAY + 100 : 4 * DAY + 103] += 80
    spiked = detect_stream(y, STEP)
    assert len(quiet.alerts) == 0
    assert list(spiked.alerts) == [4 * DAY + 100]


def test_a_level_shift_is_one_incident_not_a_stream_of_alerts():
    y = _series(days=6, daily=0.0).to_numpy()
    y[3 * DAY :] += 10  # ten noise sds, for good
    result = detect_stream(y, STEP)
    assert len(result.alerts) == 1
    assert 3 * DAY <= result.alerts[0] < 3 * DAY + 12  # within the hour


def test_no_alert_during_warm_up_and_a_repeated_daily_peak_stops_alerting():
    y = _series(days=8, daily=0.0).to_numpy()
    y[40::DAY] += 25  # a batch job at the same time every day: normal once it is known
    y[50] += 200  # inside the first day: warm-up, never an alert
    result = detect_stream(y, STEP, StreamConfig(warm_days=1.0))
    assert all(a >= DAY for a in result.alerts)
    assert all(a < 3 * DAY for a in result.alerts)


def test_causal_threshold_is_the_quantile_of_past_scores_times_factor():
    score = np.arange(1.0, 31.0)  # 1..30
    thr = causal_threshold(score, 20, 0.5, 2.0, 0.0, 1000, 10)
    assert np.isnan(thr[:20]).all()
    # at t=20 the history is score[10:20] = 11..20: k = int(0.5 * 10) = 5 -> 16, times 2
    assert thr[20] == pytest.approx(32.0)
    record = causal_threshold(score, 20, 0.5, 1.0, 1.5, 1000, 10)
    assert record[20] == pytest.approx(1.5 * 20)  # 1.5 x the highest score seen (20)
    capped = causal_threshold(score, 20, 0.0, 1.0, 0.0, 10, 10)  # only the last 10 scores are kept
    assert capped[25] == pytest.approx(16.0)  # min of 16..25


def test_suppression_keeps_the_first_flag_of_each_incident():
    flags = np.zeros(30, bool)
    flags[[2, 3, 4, 9, 20, 21]] = True
    assert list(suppress(flags, 6)) == [2, 9, 20]


def _t(hours: float) -> pd.Timestamp:
    return pd.Timestamp("2026-03-01") + pd.Timedelta(hours=hours)


def test_series_metrics_hand_computed():
    index = pd.date_range("2026-03-01", periods=14 * 24, freq="1h")  # two weeks, hourly
    windows = pd.DataFrame({"start": [_t(10), _t(100), _t(200)], "end": [_t(20), _t(110), _t(210)]})
    # hits window 1 (at +2 h and again at +5 h), misses window 3, two false alerts
    alerts = np.array([12, 15, 50, 104, 300])
    m = series_metrics(index, alerts, windows, pd.Timedelta("1h"))
    assert (m["faults_found"], m["false_positives"], m["alert_events"]) == (2, 2, 5)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert m["false_alerts_per_week"] == pytest.approx(1.0)
    assert m["delay_h"] == pytest.approx((2 + 4) / 2)
    empty = pd.DataFrame({"start": pd.to_datetime([]), "end": pd.to_datetime([])})
    assert series_metrics(index, np.array([], int), empty, pd.Timedelta("1h"))["f1"] == 1.0
    assert series_metrics(index, np.array([5]), empty, pd.Timedelta("1h"))["f1"] == 0.0
    means = mean_metrics([m, series_metrics(index, np.array([], int), empty, pd.Timedelta("1h"))])
    assert means["f1"] == pytest.approx((m["f1"] + 1.0) / 2) and means["f1_labelled"] == pytest.approx(
        m["f1"]
    )


def test_oracle_threshold_is_at_least_the_detectors_own_f1():
    y = _series(days=6)
    values = y.to_numpy()
    values[4 * DAY : 4 * DAY + 3] += 80
    windows = pd.DataFrame({"start": [y.index[4 * DAY - 20]], "end": [y.index[4 * DAY + 20]]})
    result = detect_stream(values, STEP)
    own = series_metrics(y.index, result.alerts, windows, STEP)["f1"]
    best = oracle_threshold(y.index, result.scores[:, 0], windows, STEP, DAY, 0.5)
    assert own == 1.0 and best["f1"] == 1.0


def _write(folder: Path, name: str, y: pd.Series, windows: list[tuple[str, str]]) -> None:
    pd.DataFrame({"timestamp": y.index.strftime("%Y-%m-%d %H:%M:%S"), "value": y.to_numpy()}).to_csv(
        folder / f"{name}.csv", index=False
    )
    pd.DataFrame(windows, columns=["start", "end"]).to_csv(folder / f"{name}.labels.csv", index=False)


def _spiky_and_quiet(folder: Path) -> None:
    """A folder of two labelled series: a 3-interval burst on day 4 (one window) and a quiet one."""
    spiky = _series(days=6, seed=2)
    spiky.iloc[4 * DAY : 4 * DAY + 3] += 80
    at = spiky.index[4 * DAY]
    _write(folder, "spiky", spiky, [(str(at - pd.Timedelta("2h")), str(at + pd.Timedelta("2h")))])
    _write(folder, "quiet", _series(days=6, seed=3), [])


def test_eval_anomalies_cli_on_a_folder(tmp_path):
    from orchestration.cli import app

    _spiky_and_quiet(tmp_path)
    result = CliRunner().invoke(app, ["eval", "anomalies", "--folder", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    rows = {r["series"]: r for r in payload["series"]}
    assert rows["spiky"]["f1"] == 1.0 and rows["spiky"]["delay_h"] == pytest.approx(2.0)
    assert rows["quiet"]["alert_events"] == 0 and rows["quiet"]["f1"] == 1.0
    assert payload["mean"]["f1"] == 1.0 and payload["mean"]["false_alerts_per_week"] == 0.0
    table = CliRunner().invoke(
        app, ["eval", "anomalies", "--folder", str(tmp_path), "--detector", "ensemble"]
    )
    assert table.exit_code == 0 and "spiky" in table.output and "mean" in table.output


def test_eval_anomalies_all_detectors_and_their_best_of_ceiling(tmp_path):
    # every detector on the same series, and per series the best of them (the streaming detector's
    # at its label-chosen threshold): the ceiling of choosing a detector per series with the labels
    from orchestration.cli import app

    _spiky_and_quiet(tmp_path)
    result = CliRunner().invoke(
        app, ["eval", "anomalies", "--folder", str(tmp_path), "--detector", "all", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(payload["detectors"]) == {"stream", "ensemble", "gaussian", "ecod"}
    best = {r["series"]: r for r in payload["best_of"]["series"]}
    for name in ("spiky", "quiet"):
        f1s = [payload["detectors"][d]["series"][i]["f1"] for d in payload["detectors"] for i in range(2)
               if payload["detectors"][d]["series"][i]["series"] == name]  # fmt: skip
        assert best[name]["f1"] == max(f1s + [best[name]["stream_oracle_f1"]])
        assert best[name]["detector"] in {*payload["detectors"], "stream (oracle threshold)"}
    assert payload["best_of"]["mean_f1"] == pytest.approx(np.mean([r["f1"] for r in best.values()]))
    table = CliRunner().invoke(app, ["eval", "anomalies", "--folder", str(tmp_path), "--detector", "all"])
    assert table.exit_code == 0 and "best of" in table.output and "spiky" in table.output


def test_eval_anomalies_names_the_bad_row_and_field(tmp_path):
    from orchestration.cli import app

    _write(tmp_path, "s", _series(days=2), [("2026-03-01 10:00", "2026-03-01 12:00"), ("2026-03-01", "soon")])
    result = CliRunner().invoke(app, ["eval", "anomalies", "--folder", str(tmp_path)])
    assert result.exit_code == 1
    # the console may wrap a long path anywhere: compare without whitespace
    assert "s.labels.csv:row3,field'end'" in "".join(result.output.split())
    missing = CliRunner().invoke(app, ["eval", "anomalies", "--folder", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no such folder" in " ".join(missing.output.split())


@pytest.mark.skipif(
    not NAB.is_dir(), reason="end-to-end check on the shared real series (../shared/data/nab)"
)
def test_eval_anomalies_end_to_end_on_a_shared_real_series():
    name = "rds_cpu_utilization_e47b3b"  # two level shifts, one labelled
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "eval", "anomalies", "--json"]
        + ["--csv", str(NAB / f"{name}.csv"), "--labels", str(NAB / f"{name}.labels.csv")],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    row = json.loads(out.stdout.strip().splitlines()[-1])["series"][0]
    assert row["faults"] == 2 and row["faults_found"] >= 1 and row["false_positives"] == 0
    assert row["false_alerts_per_week"] <= 1.0


def test_series_alerts_of_an_hourly_series_with_gaps():
    from kernels.anomalies.streaming import series_alerts

    hours = pd.date_range("2026-03-01", periods=24 * 14, freq="h", tz="UTC")
    rng = np.random.default_rng(3)
    values = 4.0 + 0.5 * np.sin(2 * np.pi * np.arange(len(hours)) / 24) + rng.normal(0, 0.05, len(hours))
    values[24 * 10 + 5 :] += 1.5  # the site draws 1.5 MWh more from day 10, 05:00 on (a stuck chiller)
    series = pd.Series(values, index=hours).drop(hours[24 * 6 : 24 * 6 + 3])  # three hours not metered
    alerts = series_alerts(series)
    assert list(alerts.columns) == ["start_at", "end_at", "score", "trigger", "value", "threshold"]
    # one incident, one alert, at the shift (not in the gap: missing hours are not zeros)
    assert len(alerts) == 1 and alerts["start_at"].iloc[0] == hours[24 * 10 + 5]
    assert alerts["end_at"].iloc[0] - alerts["start_at"].iloc[0] == pd.Timedelta("1h")
    assert alerts["score"].iloc[0] > 1 and alerts["trigger"].iloc[0] in ("spike", "level")
    # a series shorter than a day (the warm-up) raises nothing rather than guessing
    assert series_alerts(series.iloc[:20]).empty
