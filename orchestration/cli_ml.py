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

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")]


def _fail(message: str) -> None:
    from orchestration.cli import fail

    fail(message)


def _emit(payload: dict) -> None:
    from orchestration.cli import emit_json

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
    folds: Annotated[int, typer.Option(min=1, help="rolling-origin folds")] = 3,
    last: Annotated[
        int | None,
        typer.Option(help="use only the last N points (default: the last 90 days for sub-daily data)"),
    ] = None,
    country: Annotated[str, typer.Option(help="holiday country for Prophet ('' for none)")] = "US",
    as_json: JsonFlag = False,
) -> None:
    """Rolling-origin backtest of the champion selection on any series: MAPE, sMAPE, MAE, MASE of
    every candidate and of the champion it chooses."""
    import pandas as pd

    from kernels.forecasting import SeriesError, default_candidates, regularize, select

    frame = _read_csv(csv, time_col, value_col)
    try:
        y, step = regularize(frame, time_col, value_col, freq)
        if last:
            y = y.iloc[-last:]
        elif step < pd.Timedelta("1D"):
            # years of hourly history make Prophet slow and say little about next-day accuracy
            y = y[y.index > y.index[-1] - pd.Timedelta("90D")]
        selection = select(y, default_candidates(step, len(y), country or None), horizon, folds)
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


def ml_rollback(
    series: Annotated[str, typer.Argument(help="series name, e.g. price:ERCOT:HB_WEST or demand:h100")],
    version: Annotated[int, typer.Argument(help="registered model version to make champion again")],
    as_json: JsonFlag = False,
) -> None:
    """Make an earlier model version the champion again (recorded in ops.audit_log)."""
    from assets.ml_queries import RollbackError, rollback
    from orchestration import db
    from orchestration.cli import ready_database

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
    from orchestration import db
    from orchestration.cli import ready_database

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
    try:
        eval_app.command("anomalies")(eval_anomalies)
        bench_app.command("ml")(bench_ml)
    except NameError:  # pragma: no cover - defined below once the anomaly kernel exists
        pass
    app.add_typer(ml_app, name="ml")
    app.add_typer(eval_app, name="eval")


def eval_anomalies(
    csv: Annotated[Path, typer.Option(help="CSV file with a time and a value column")],
    labels: Annotated[Path, typer.Option(help="CSV of anomaly windows with start,end columns")],
    time_col: Annotated[str, typer.Option(help="time column")] = "timestamp",
    value_col: Annotated[str, typer.Option(help="value column")] = "value",
    as_json: JsonFlag = False,
) -> None:
    """Run the detector ensemble on one univariate series and score it against labelled windows:
    event-level precision, recall, F1 (alerts within one hour merge) and point-level F1."""
    import numpy as np
    import pandas as pd

    from kernels.anomalies import event_scores, point_f1
    from kernels.anomalies.detect import EnsembleConfig, fit_ensemble
    from kernels.forecasting import SeriesError, regularize

    frame = _read_csv(csv, time_col, value_col)
    windows = _read_csv(labels, "start", "end")
    try:
        y, step = regularize(frame, time_col, value_col)
        windows = pd.DataFrame(
            {"start": pd.to_datetime(windows["start"]), "end": pd.to_datetime(windows["end"])}
        )
    except (SeriesError, ValueError) as err:
        _fail(f"{csv}: {err}")
    if len(y) < 100:
        _fail(f"{csv}: too few points: {len(y)} after cleaning, need at least 100")
    window = max(3, min(len(y) // 20, int(pd.Timedelta("1D") / step)))
    feats = pd.DataFrame(
        {
            "value": y.to_numpy(),
            "diff": y.diff().fillna(0).to_numpy(),
            "dev": (y - y.rolling(window, min_periods=1).median()).to_numpy(),
        }
    )
    config = EnsembleConfig()
    score = fit_ensemble(feats, list(feats.columns), config).score(feats)
    flagged = score >= config.info
    alerts = pd.DataFrame({"start": y.index[flagged], "end": y.index[flagged] + step})
    result = {
        "file": str(csv),
        "points": len(y),
        "flagged_points": int(np.sum(flagged)),
        **event_scores(alerts, windows),
        "point_f1": point_f1(pd.Series(y.index), flagged, windows),
    }
    if as_json:
        _emit(result)
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {_fmt(value) if isinstance(value, float) else value}")
