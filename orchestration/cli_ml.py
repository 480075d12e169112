"""``hcp ml`` (registry), ``hcp eval`` (forecast / anomaly evaluation on any CSV) and ``hcp bench ml``.

The eval commands take the user's own files: they clean the series (duplicates averaged, gaps
interpolated, irregular spacing put on a grid) and fail with one clear line on unusable input.
"""

from __future__ import annotations

import getpass
import math
from pathlib import Path
from typing import Annotated

import typer

from orchestration.anomaly_eval import eval_anomalies  # the streaming detector's evaluation

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")]


def _fail(message: str) -> None:
    from orchestration.terminal import fail

    fail(message)


def _emit(payload: dict) -> None:
    from orchestration.terminal import emit_json

    emit_json(_finite(payload))


def _finite(value):
    """JSON has no NaN: metrics that are undefined (MAPE on an all-zero series) become null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _read_csv(path: Path, *columns: str):
    import pandas as pd

    if not path.is_file():
        _fail(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        _fail(f"{path}: not a readable CSV ({str(err).strip().splitlines()[0]})")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        _fail(
            f"{path}: column(s) {', '.join(map(repr, missing))} not found; columns are {', '.join(map(str, frame.columns))}"
        )
    return frame


def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4g}"


def eval_forecast(
    csv: Annotated[Path, typer.Option(help="CSV file with a time and a value column")],
    horizon: Annotated[int, typer.Option(min=1, help="steps ahead to forecast (in --freq units)")],
    time_col: Annotated[str, typer.Option(help="time column")] = "ds",
    value_col: Annotated[str, typer.Option(help="value column")] = "y",
    freq: Annotated[
        str | None, typer.Option(help="pandas frequency (default: inferred), e.g. h, 15min, D")
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="rolling-origin folds (default 3); with --walk-forward, the latest out-of-sample origins "
            "the champion is chosen on (default 14, as the registry's weekly retrain)",
        ),
    ] = None,
    last: Annotated[
        int | None,
        typer.Option(help="use only the last N points (default: the last 90 days for sub-daily data)"),
    ] = None,
    country: Annotated[str, typer.Option(help="holiday country for Prophet ('' for none)")] = "US",
    tz: Annotated[
        str | None,
        typer.Option(
            help="time zone whose days and weekends the series follows, e.g. America/Chicago: times "
            "with a UTC offset are read on its clock, times without one are taken as its clock already "
            "(default: the file's clock, UTC for times with an offset)"
        ),
    ] = None,
    walk_forward: Annotated[
        int | None,
        typer.Option(
            "--walk-forward",
            min=1,
            help="walk forward over the last DAYS days instead: at each daily origin the champion is "
            "chosen on the past only, then scored on the next horizon (out of sample)",
        ),
    ] = None,
    reselect_every: Annotated[
        int, typer.Option(min=1, help="with --walk-forward: re-select the champion every N daily origins")
    ] = 7,
    only: Annotated[
        str | None,
        typer.Option("--candidates", help="comma-separated candidate names to keep (default: all)"),
    ] = None,
    kind: Annotated[
        str,
        typer.Option(
            help="auto, level or price: prices report MAE and MASE only (MAPE is meaningless near zero); "
            "auto is price when a value is <= 0 or the value column names a price or LMP"
        ),
    ] = "auto",
    as_json: JsonFlag = False,
) -> None:
    """Rolling-origin backtest of the champion selection on any series: MAPE, sMAPE, MAE, MASE of
    every candidate and of the champion it chooses. With ``--walk-forward DAYS``: the champion's
    out-of-sample errors, chosen at each origin on the past only, beside seasonal naive and every
    candidate (see ``kernels.forecasting.walkforward``)."""
    import zoneinfo

    import pandas as pd

    from kernels.forecasting import SeriesError, default_candidates, regularize, select
    from kernels.forecasting.series import has_utc_offset

    if tz:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            _fail(f"--tz {tz!r} is not a time zone name such as America/Chicago or UTC")
    if kind not in ("auto", "level", "price"):
        _fail(f"--kind {kind!r}: use auto, level or price")
    frame = _read_csv(csv, time_col, value_col)
    if walk_forward:
        from kernels.forecasting.backtest import SELECTION_FOLDS

        _eval_walk_forward(csv, frame, horizon, time_col, value_col, freq, folds or SELECTION_FOLDS, last, country, tz,
                           walk_forward, reselect_every, kind, only, as_json)  # fmt: skip
        return
    try:
        y, step = regularize(frame, time_col, value_col, freq)
        if last:
            y = y.iloc[-last:]
        elif step < pd.Timedelta("1D"):
            # years of hourly history make Prophet slow and say little about next-day accuracy
            y = y[y.index > y.index[-1] - pd.Timedelta("90D")]
        # naive times are the file's wall clock already: only UTC ones need the zone's calendar
        calendar = tz if tz and has_utc_offset(frame[time_col]) else None
        candidates = _keep(default_candidates(step, len(y), country or None, calendar), only)
        selection = select(y, candidates, horizon, folds or 3)
    except SeriesError as err:
        _fail(f"{csv}: {err}")
    result = {
        "file": str(csv),
        "points": len(y),
        "freq": str(step),
        "start": str(y.index[0]),
        "end": str(y.index[-1]),
        **selection.to_dict(),
    }
    if as_json:
        _emit(result)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "candidate", "MAPE %", "sMAPE %", "MAE", "MASE", "s", title=f"{csv.name}: {len(y)} points, {step}"
    )
    for cand in result["candidates"]:
        m = cand["metrics"]
        mark = " (champion)" if cand["name"] == selection.champion else ""
        table.add_row(
            cand["name"] + mark,
            *(_fmt(m[k]) for k in ("mape", "smape", "mae", "mase")),
            f"{cand['seconds']:.2f}",
        )
    Console().print(table)
    typer.echo(f"champion: {selection.champion}")


def _is_price(y, value_col: str, kind: str) -> bool:
    if kind != "auto":
        return kind == "price"
    name = value_col.lower()
    return bool((y <= 0).any()) or "price" in name or "lmp" in name


def _keep(candidates: list, only: str | None) -> list:
    """The candidates named in ``only`` (comma-separated; the baseline always stays), else all."""
    if not only:
        return candidates
    from kernels.forecasting import BASELINE

    names = {n.strip() for n in only.split(",") if n.strip()}
    unknown = names - {c.name for c in candidates}
    if unknown:
        _fail(
            f"--candidates: unknown {', '.join(sorted(unknown))}; known: {', '.join(c.name for c in candidates)}"
        )
    return [c for c in candidates if c.name in names or c.name == BASELINE]


def _eval_walk_forward(csv, frame, horizon, time_col, value_col, freq, folds, last, country, tz, days,
                       reselect_every, kind, only, as_json) -> None:  # fmt: skip
    """``hcp eval forecast --walk-forward DAYS``: see ``kernels.forecasting.walkforward``."""
    import pandas as pd

    from kernels.forecasting import SeriesError, default_candidates, profile_floor, regularize, walk_forward
    from kernels.forecasting.series import has_utc_offset

    try:
        y, step = regularize(frame, time_col, value_col, freq)
        per_day = max(1, int(pd.Timedelta("1D") / step))
        # training window before each origin: --last points, else 90 days of sub-daily data
        history = last or (90 * per_day if step < pd.Timedelta("1D") else len(y))
        keep = history + (days + folds + horizon // per_day + 1) * per_day + horizon
        y = y.iloc[-keep:]
        calendar = tz if tz and has_utc_offset(frame[time_col]) else None
        candidates = _keep(default_candidates(step, min(history, len(y)), country or None, calendar), only)
        echo = None if as_json else (lambda text: typer.echo(text, err=True))
        walk = walk_forward(y, candidates, horizon, days, folds, reselect_every, history, progress=echo)
    except SeriesError as err:
        _fail(f"{csv}: {err}")
    price = _is_price(y, value_col, kind)
    summary = walk.summary()
    floor = None
    if not price and step < pd.Timedelta("1D"):
        # oracle noise floor on the scored targets: the daily/weekly shape known from every other day
        floor = profile_floor(y, days * per_day + horizon - per_day, calendar)
    rows = [("champion (walk-forward)", summary["champion"]), ("seasonal naive", summary["seasonal_naive"]),
            ("hindsight selection (oracle)", summary["oracle_selection"]),
            *((f"  {name}", m) for name, m in summary["candidates"].items())]  # fmt: skip
    shown = ("mae", "mase") if price else ("mape", "mae", "mase")
    if price:
        for block in (summary["champion"], summary["seasonal_naive"], summary["oracle_selection"],
                      *summary["candidates"].values()):  # fmt: skip
            block.pop("mape", None)
            block.pop("smape", None)
    result = {
        "file": str(csv),
        "points": len(y),
        "freq": str(step),
        "kind": "price" if price else "level",
        "walk_forward": summary,
        "noise_floor_mape": floor,
        "champions": [{"origin": str(k), "champion": v} for k, v in walk.champions.items()],
    }
    if as_json:
        _emit(result)
        return
    from rich.console import Console
    from rich.table import Table

    title = (f"{csv.name}: walk-forward over {summary['origins']} daily origins, horizon {horizon}, champion "
             f"re-selected every {reselect_every} on the last {folds} out-of-sample origins")  # fmt: skip
    table = Table("forecast", *(m.upper() + (" %" if m == "mape" else "") for m in shown), title=title)
    for name, metrics in rows:
        table.add_row(name, *(_fmt(metrics.get(m)) for m in shown))
    Console().print(table)
    ratio = summary["champion_mae_vs_naive"]
    typer.echo(f"champion MAE vs seasonal naive: {_fmt((ratio - 1) * 100)} %   champions used: "
               f"{summary['champions_used']}" + (f"   noise floor MAPE {_fmt(floor)} %" if floor else ""))  # fmt: skip


def ml_rollback(
    series: Annotated[str, typer.Argument(help="series name, e.g. price:ERCOT:HB_WEST or demand:h100")],
    version: Annotated[int, typer.Argument(help="registered model version to make champion again")],
    as_json: JsonFlag = False,
) -> None:
    """Make an earlier model version the champion again (recorded in ops.audit_log)."""
    from assets.ml_queries import RollbackError, rollback
    from core import db
    from orchestration.terminal import ready_database

    url = ready_database()
    try:
        with db.connect(url) as conn:
            result = rollback(conn, series, version, actor=getpass.getuser())
    except RollbackError as err:
        _fail(str(err))
    if as_json:
        _emit(result)
    else:
        typer.echo(f"{series}: champion version {result['before']} -> {result['after']}")


def ml_models(
    series: Annotated[str | None, typer.Argument(help="only this series")] = None, as_json: JsonFlag = False
) -> None:
    """List registered models: series, version, name, status, metrics."""
    from assets.ml_queries import list_models
    from core import db
    from orchestration.terminal import ready_database

    with db.connect(ready_database()) as conn:
        frame = list_models(conn, series)
    if as_json:
        _emit({"models": frame.to_dict(orient="records")})
    else:
        typer.echo(frame.to_string(index=False) if not frame.empty else "no models registered")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``hcp ml``, ``hcp eval`` and ``hcp bench ml`` to the CLI."""
    ml_app = typer.Typer(help="Forecast model registry: list, rollback.", no_args_is_help=True)
    eval_app = typer.Typer(
        help="Evaluate forecasting and anomaly detection on your own CSV files.", no_args_is_help=True
    )
    ml_app.command("rollback")(ml_rollback)
    ml_app.command("models")(ml_models)
    eval_app.command("forecast")(eval_forecast)
    eval_app.command("anomalies")(eval_anomalies)
    bench_app.command("ml")(bench_ml)
    app.add_typer(ml_app, name="ml")
    app.add_typer(eval_app, name="eval")


# --- hcp bench ml --------------------------------------------------------------------------------


def _timed(fn, *args, repeat: int = 1, **kwargs) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls (seconds) and the last result."""
    import time

    best, result = math.inf, None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - began)
    return best, result


def forecast_bench(series: dict) -> dict:
    """Per-series Prophet fit+predict time against seasonal naive, and the total over every series
    (every series forecast by Prophet: the slowest champion there is)."""
    from assets.forecasting import _regular
    from kernels.forecasting import Candidate, SeriesError, fit_predict
    from kernels.forecasting.models import BASELINE, default_candidates, season_length

    rows, warm = [], False
    for name, (raw, horizon, country, tz) in series.items():
        try:
            y, step = _regular(raw)
            prophet = next(c for c in default_candidates(step, len(y), country, tz) if c.kind == "prophet")
            naive = Candidate(BASELINE, "seasonal_naive", {"season": season_length(step)})
            if not warm:  # the first Prophet fit of a process pays for loading Stan: not timed
                fit_predict(prophet, y, horizon)
                warm = True
            prophet_s, _ = _timed(fit_predict, prophet, y, horizon)
            naive_s, _ = _timed(fit_predict, naive, y, horizon, repeat=3)
        except (SeriesError, ValueError, StopIteration):
            continue
        rows.append(
            {"series": name, "points": len(y), "horizon": horizon, "prophet_s": prophet_s, "naive_s": naive_s}
        )
    total_p, total_n = sum(r["prophet_s"] for r in rows), sum(r["naive_s"] for r in rows)
    return {
        "series": rows,
        "prophet_per_series_s": total_p / len(rows) if rows else None,
        "naive_per_series_s": total_n / len(rows) if rows else None,
        "total_forecast_s": total_p,
        "total_naive_s": total_n,
        "ratio_prophet_to_naive": total_p / total_n if total_n else None,
    }


DEMAND_GOAL_MAPE = 10.0  # issue goal: demand MAPE under 10% at 24 h, every champion MASE < 1 or naive


def demand_accuracy(series: dict, horizon: int = 24, folds: int = 3) -> dict:
    """Rolling-origin backtest of the champion selection on every GPU pool's demand series at
    ``horizon`` hours: each candidate's mean MAPE and MASE, the champion chosen and the goal, next
    to the noise floor on the same folds (``profile_floor``: an oracle that knows the other days)."""
    import time

    from assets.forecasting import _regular
    from kernels.forecasting import SeriesError, default_candidates, profile_floor, select

    pools = []
    for name, (raw, _horizon, country, tz) in series.items():
        if not name.startswith("demand:"):
            continue
        try:
            y, step = _regular(raw)
            began = time.perf_counter()
            selection = select(y, default_candidates(step, len(y), country, tz), horizon, folds)
        except SeriesError as err:
            pools.append({"series": name, "error": str(err)})
            continue
        champ = selection.result(selection.champion).metrics
        pools.append(
            {
                "series": name,
                "points": len(y),
                "tz": tz,
                "champion": selection.champion,
                "mape": champ["mape"],
                "mase": champ["mase"],
                "floor_mape": profile_floor(y, horizon * selection.folds, tz),
                "candidates": {r.candidate.name: r.metrics for r in selection.results},
                "backtest_s": time.perf_counter() - began,
                "meets_goal": bool(
                    champ["mape"] < DEMAND_GOAL_MAPE
                    and (champ["mase"] < 1 or selection.champion.startswith("seasonal_naive"))
                ),
            }
        )
    return {"horizon_h": horizon, "folds": folds, "goal_mape": DEMAND_GOAL_MAPE, "pools": pools}


def anomaly_bench(telemetry, devices: int = 1000) -> dict:
    """Scoring time of ``devices`` devices' latest hour with the detector fitted on the day before
    it (fitted once, reused: nothing refitted), against a single detector (ECOD) on the same rows."""
    import numpy as np
    import pandas as pd

    from kernels.anomalies import fit_fleet, residual_features
    from kernels.anomalies.detect import score_rows

    keep = telemetry["device_id"].drop_duplicates().iloc[:devices]
    telemetry = telemetry[telemetry["device_id"].isin(keep)]
    latest = telemetry["ts"].max()
    hour = telemetry[telemetry["ts"] > latest - pd.Timedelta("1h")]
    history = telemetry[telemetry["ts"] <= latest - pd.Timedelta("1h")]
    fit_s, (detector, _) = _timed(fit_fleet, history)

    def score_hour():
        features, _ = residual_features(hour, detector.calibration)
        return score_rows(features, detector)

    score_s, scored = _timed(score_hour, repeat=3)
    asic = scored[scored["running"] & scored["kind"].eq("asic")]
    ecod = detector.ensembles["asic"].detectors["ecod"]
    x = np.clip(asic[detector.ensembles["asic"].columns].to_numpy(float), -50, 50)
    single_s, _ = _timed(ecod.decision_function, x, repeat=3)
    return {
        "devices": int(hour["device_id"].nunique()),
        "rows": len(hour),
        "fit_s": fit_s,
        "fit_rows": len(history),
        "score_latest_hour_s": score_s,
        "single_detector_s": single_s,
        "single_detector": "ecod (asic rows, scores only)",
        "ratio_to_single_detector": score_s / single_s if single_s else None,
        "goal_s": 1.0,
        "meets_goal": score_s < 1.0,
    }


def bench_ml(
    landing: Annotated[
        Path | None,
        typer.Option(help="landing folder of a simulated fleet (default: simulate the default fleet)"),
    ] = None,
    days: Annotated[int, typer.Option(min=2, help="days of history to simulate (without --landing)")] = 7,
    folds: Annotated[int, typer.Option(min=1, help="24 h folds of the demand backtest")] = 3,
    nab: Annotated[
        Path, typer.Option(help="folder of labelled real series for the anomaly accuracy (skipped if absent)")
    ] = Path("../shared/data/nab"),
    as_json: JsonFlag = False,
) -> None:
    """Prophet fit+predict per series vs seasonal naive, total forecast time for the default fleet's
    series, demand forecast accuracy per GPU pool at 24 h (champion selection's backtest, beside the
    pool's noise floor), and anomaly scoring of 1,000 devices' latest hour vs a single detector."""
    import tempfile

    from assets.anomalies import telemetry_from_landing
    from assets.forecasting import series_from_landing

    with tempfile.TemporaryDirectory(prefix="hcp-bench-ml-") as tmp:
        folder = landing
        if folder is None:
            from ingestion.simulator import simulate

            folder = Path(tmp)
            typer.echo(
                f"simulating the default fleet (3 facilities, 1,000 devices, {days} days) ...", err=True
            )
            simulate(folder, days=days)
        typer.echo("forecasting every series ...", err=True)
        series = series_from_landing(folder)
        forecasts = forecast_bench(series)
        typer.echo("backtesting demand at 24 h ...", err=True)
        demand = demand_accuracy(series, folds=folds)
        typer.echo("scoring anomalies ...", err=True)
        anomalies = anomaly_bench(telemetry_from_landing(folder, last_days=1))
    accuracy = None
    if nab.is_dir():
        from orchestration.anomaly_eval import accuracy_bench

        typer.echo(f"anomaly accuracy on the labelled series of {nab} ...", err=True)
        accuracy = accuracy_bench(nab)
    result = {"forecast": forecasts, "demand": demand, "anomalies": anomalies, "anomaly_accuracy": accuracy}
    if as_json:
        _emit(result)
        return
    for row in forecasts["series"]:
        typer.echo(
            f"{row['series']:<28} prophet {row['prophet_s']:.2f} s   naive {row['naive_s'] * 1000:.1f} ms   "
            f"x{row['prophet_s'] / row['naive_s']:.0f}"
        )
    typer.echo(
        f"total forecast (prophet, {len(forecasts['series'])} series): {forecasts['total_forecast_s']:.1f} s "
        f"vs naive {forecasts['total_naive_s'] * 1000:.0f} ms (x{_fmt(forecasts['ratio_prophet_to_naive'])})"
    )
    for pool in demand["pools"]:
        if "error" in pool:
            typer.echo(f"{pool['series']:<28} demand backtest skipped: {pool['error']}")
            continue
        typer.echo(
            f"{pool['series']:<28} MAPE at 24 h {_fmt(pool['mape'])} % (goal < {DEMAND_GOAL_MAPE:.0f} %: "
            f"{'met' if pool['meets_goal'] else 'NOT met'})   MASE {_fmt(pool['mase'])}   champion "
            f"{pool['champion']}   noise floor {_fmt(pool['floor_mape'])} %   ({demand['folds']} folds, "
            f"{pool['points']} hours, {pool['tz'] or 'UTC'} weekends)"
        )
    typer.echo(
        f"anomaly scoring, {anomalies['devices']} devices' latest hour ({anomalies['rows']} rows): "
        f"{anomalies['score_latest_hour_s']:.3f} s (goal < 1 s) vs single detector "
        f"{anomalies['single_detector_s']:.3f} s (x{_fmt(anomalies['ratio_to_single_detector'])}); "
        f"fit once on {anomalies['fit_rows']} rows: {anomalies['fit_s']:.1f} s"
    )
    if accuracy is None:
        typer.echo(f"anomaly accuracy on real series: skipped ({nab} not found)")
        return
    st, base = accuracy["stream"], accuracy["baseline"]
    typer.echo(
        f"anomaly event F1 on {accuracy['series']} real labelled series: {st['f1']:.3f} (precision "
        f"{st['precision']:.2f}, recall {st['recall']:.2f}, {st['false_alerts_per_week']:.2f} false alerts "
        f"per series-week) vs single-detector baseline {base['f1']:.3f} ({base['false_alerts_per_week']:.2f} "
        f"false/week): x{_fmt(accuracy['ratio_f1_to_baseline'])}; goal F1 >= 0.85 and <= 1 false/week: "
        f"{'met' if accuracy['meets_goal'] else 'NOT met'}"
    )
